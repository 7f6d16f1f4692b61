import { describe, expect, it } from "vitest";
import { token } from "../test-fixtures";
import { restOfPages, withExtra } from "./matching";
import type { TokenPage } from "./schemas";

const t = (id: string) => ({ ...token, id, name: id });
const pages: Record<string, TokenPage> = {
  c1: { tokens: [t("b1"), t("b2")], next_cursor: "c2", damaged: [] },
  c2: { tokens: [t("c1")], damaged: [] },
};

describe("the rest of a list's pages", () => {
  it("follows each page's cursor to the last, and says how many so far", async () => {
    const asked: string[] = [];
    const progress: number[] = [];
    const rest = await restOfPages(
      (cursor) => {
        asked.push(cursor);
        const page = pages[cursor];
        if (!page) throw new Error(`no page ${cursor}`);
        return Promise.resolve(page);
      },
      "c1",
      (n) => progress.push(n),
    );
    expect(asked).toEqual(["c1", "c2"]);
    expect(rest.map((k) => k.id)).toEqual(["b1", "b2", "c1"]);
    expect(progress).toEqual([2, 3]);
  });

  it("asks nothing when the list has every page, and stops at a cursor handed back twice", async () => {
    expect(await restOfPages(() => Promise.reject(new Error("asked")), undefined)).toEqual([]);
    const loop = restOfPages(() => Promise.resolve({ tokens: [t("x")], next_cursor: "same", damaged: [] }), "same");
    await expect(loop).rejects.toThrow(/already given/);
  });

  it("adds fetched keys after the listed ones, each once", () => {
    expect(withExtra([t("a"), t("b")], [t("b"), t("c")]).map((k) => k.id)).toEqual(["a", "b", "c"]);
  });
});
