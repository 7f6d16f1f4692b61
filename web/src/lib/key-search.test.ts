import { describe, expect, it } from "vitest";
import { hintOf, keySearch } from "./key-search";

// A key as keygate makes them: the prefix, "_", 43 random and 6 checksum characters.
const KEY = "kg_003aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789abcdefqIjo";

describe("the header's key search", () => {
  it("computes the hint as keygate does (src/token.rs)", () => {
    expect(KEY).toHaveLength(3 + 49);
    expect(hintOf(KEY)).toBe("kg_003a…qIjo");
    expect(hintOf("legacy-key-123456")).toBe("lega…3456");
    expect(hintOf("short")).toBe("…");
  });

  it("sends what was typed as it is", () => {
    expect(keySearch("  owner:bob  team=payments -ci ")).toEqual({ kind: "search", q: "owner:bob team=payments -ci" });
    expect(keySearch("kg_003a…qIjo")).toEqual({ kind: "search", q: "kg_003a…qIjo" });
    expect(keySearch("")).toEqual({ kind: "search", q: "" });
  });

  it("never sends a whole key: only its hint, and says so", () => {
    for (const typed of [KEY, ` ${KEY} `, `"${KEY}"`]) {
      const s = keySearch(typed);
      expect(s.kind).toBe("search");
      if (s.kind !== "search") return;
      expect(s.q).toBe("hint:kg_003a…qIjo");
      expect(s.q).not.toContain(KEY);
      expect(s.note).toMatch(/only its hint, kg_003a…qIjo, was searched for/);
    }
    // Whatever the deployment's prefix, and beside other terms.
    const other = `acme_${KEY.slice(3)}`;
    expect(keySearch(`owner:bob ${other}`)).toMatchObject({ q: "owner:bob hint:acme_003a…qIjo" });
  });

  it("takes a long unbroken word for an imported key", () => {
    const foreign = "Zx9" + "a".repeat(40) + "77Qq";
    expect(keySearch(foreign)).toMatchObject({ q: `hint:${hintOf(foreign)}` });
    // Search syntax is not a key: a long id is asked for with id:.
    expect(keySearch(`id:${foreign}`)).toEqual({ kind: "search", q: `id:${foreign}` });
  });

  it("refuses the admin key outright", () => {
    const admin = "kgadmin_" + "A1b2C3d4E5".repeat(4) + "xyz";
    const s = keySearch(admin);
    expect(s.kind).toBe("refused");
    expect(JSON.stringify(s)).not.toContain(admin);
  });
});
