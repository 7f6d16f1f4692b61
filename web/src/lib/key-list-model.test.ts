import { describe, expect, it } from "vitest";
import { token } from "../test-fixtures";
import {
  DEFAULT_STATE,
  type ListState,
  filterSort,
  isUnused,
  listParams,
  matches,
  pageOf,
  parseListState,
  rotationLabel,
  rotationOf,
  runBounded,
  unusedDays,
} from "./key-list-model";
import type { Token } from "./schemas";

const DAY = 86_400_000;
const NOW = Date.parse("2026-06-01T12:00:00Z");

describe("the list's URL state", () => {
  it("reads every param and writes back only what differs from the default", () => {
    const s = parseListState(new URLSearchParams("q=team%3Dcore&status=disabled&sort=name:asc&unused=30&page=3"));
    expect(s).toEqual({ q: "team=core", status: "disabled", sort: "name", desc: false, unused: 30, page: 3 });
    expect(listParams(s).toString()).toBe("q=team%3Dcore&status=disabled&sort=name%3Aasc&unused=30&page=3");
    expect(parseListState(listParams(s))).toEqual(s);
    expect(listParams(DEFAULT_STATE).toString()).toBe("");
  });

  it("falls back to the default for each malformed param alone", () => {
    const s = parseListState(new URLSearchParams("q=x&status=gone&sort=hint:asc&unused=-4&page=0"));
    expect(s).toEqual({ ...DEFAULT_STATE, q: "x" });
    expect(parseListState(new URLSearchParams("sort=name:sideways&page=2.5&unused=abc"))).toEqual(DEFAULT_STATE);
  });
});

describe("the filter", () => {
  const t: Token = {
    ...token,
    name: "CI deploys",
    hint: "kg_Ab3…",
    rules: [{ hosts: ["api.example.com"], paths: ["/v1/*"], methods: ["GET"] }],
    metadata: { team: "Payments", ticket: "OPS-42" },
  };

  it("matches name, hint, id and rules, ignoring case and outer spaces", () => {
    for (const q of ["ci dep", "AB3", "k1", "api.example.com", "/v1/*", "  get  ", ""]) expect(matches(t, q), q).toBe(true);
    expect(matches(t, "nightly")).toBe(false);
  });

  it("matches metadata keys, values and key=value", () => {
    expect(matches(t, "payments")).toBe(true);
    expect(matches(t, "ticket")).toBe(true);
    expect(matches(t, "team=payments")).toBe(true);
    expect(matches(t, "team=ops")).toBe(false);
    expect(matches({ ...t, metadata: {} }, "payments")).toBe(false);
  });
});

describe("unused keys", () => {
  it("count from the last use, or from creation when never used", () => {
    expect(unusedDays({ ...token, last_used_at: new Date(NOW - 45 * DAY - 1000).toISOString() }, NOW)).toBe(45);
    expect(unusedDays({ ...token, created_at: new Date(NOW - 10 * DAY).toISOString(), last_used_at: null }, NOW)).toBe(10);
    expect(unusedDays({ ...token, last_used_at: new Date(NOW - 3_600_000).toISOString() }, NOW)).toBeNull();
  });

  it("a used key is not unused just because it is old", () => {
    const old = { ...token, created_at: "2020-01-01T00:00:00Z", last_used_at: new Date(NOW - 2 * DAY).toISOString() };
    expect(isUnused(old, NOW, 7)).toBe(false);
    expect(isUnused(old, NOW, 2)).toBe(true);
  });
});

describe("filtering, sorting and paging", () => {
  const keys = Array.from({ length: 120 }, (_, i): Token => ({
    ...token,
    id: `k${i}`,
    name: `key ${String(i).padStart(3, "0")}`,
    created_at: new Date(NOW - (120 - i) * DAY).toISOString(),
    last_used_at: i % 2 ? new Date(NOW - i * 3_600_000).toISOString() : null,
    status: i % 10 === 0 ? "disabled" : "active",
    metadata: i === 77 ? { owner_team: "search" } : {},
  }));
  const state = (s: Partial<ListState>): ListState => ({ ...DEFAULT_STATE, ...s });

  it("pages 50 at a time and clamps a page past the end", () => {
    const all = filterSort(keys, DEFAULT_STATE, NOW);
    expect(all[0]?.name).toBe("key 119");
    const p3 = pageOf(all, 3);
    expect(p3).toMatchObject({ page: 3, pages: 3, first: 101, last: 120 });
    expect(p3.rows).toHaveLength(20);
    expect(pageOf(all, 99).page).toBe(3);
    expect(pageOf([], 2)).toMatchObject({ page: 1, pages: 1, first: 0, last: 0, rows: [] });
  });

  it("combines status, unused and text, and sorts never-used last either way", () => {
    expect(filterSort(keys, state({ status: "disabled" }), NOW)).toHaveLength(12);
    expect(filterSort(keys, state({ q: "search" }), NOW).map((t) => t.id)).toEqual(["k77"]);
    // Never used and made 90+ days ago: the even keys below 30.
    const stale = filterSort(keys, state({ unused: 90 }), NOW);
    expect(stale.map((t) => t.id)).toEqual(["k30", "k28", "k26", "k24", "k22", "k20", "k18", "k16", "k14", "k12", "k10", "k8", "k6", "k4", "k2", "k0"]);
    const recent = filterSort(keys, state({ sort: "last_used_at", desc: true }), NOW);
    expect(recent[0]?.id).toBe("k1");
    expect(recent.at(-1)?.last_used_at).toBeNull();
    const least = filterSort(keys, state({ sort: "last_used_at", desc: false }), NOW);
    expect(least[0]?.id).toBe("k119");
    expect(least.at(-1)?.last_used_at).toBeNull();
  });

  it("sorts by the last 24 hours' requests and refusals, keys that asked nothing last", () => {
    const busy = keys.map((t, i) =>
      i === 5 || i === 9
        ? { ...t, activity: { requests: i * 10, refusals: 50 - i, hourly: [] } }
        : t,
    );
    const byRequests = filterSort(busy, state({ sort: "requests", desc: true }), NOW);
    expect(byRequests.slice(0, 2).map((t) => t.id)).toEqual(["k9", "k5"]);
    const byRefusals = filterSort(busy, state({ sort: "refusals", desc: true }), NOW);
    expect(byRefusals.slice(0, 2).map((t) => t.id)).toEqual(["k5", "k9"]);
    expect(parseListState(new URLSearchParams("sort=refusals:desc")).sort).toBe("refusals");
  });
});

describe("rotation pairs", () => {
  const old: Token = {
    ...token,
    id: "old",
    name: "CI deploys",
    status: "rotating",
    replaced_by: "new",
    grace_until: new Date(NOW + DAY).toISOString(),
  };
  const fresh: Token = { ...token, id: "new", name: "CI deploys", replaces: "old" };
  const byId = new Map([old, fresh].map((t) => [t.id, t]));

  it("name the old key replaced, with the time it has left, and the new one new", () => {
    const r = rotationOf(old, byId);
    expect(r).toMatchObject({ role: "old", other: fresh });
    expect(rotationLabel(r, NOW)).toBe("replaced, stops in 24 h");
    expect(rotationLabel(rotationOf(fresh, byId), NOW)).toBe("new");
    expect(rotationLabel(r, NOW + 2 * DAY)).toBe("replaced, stopped");
  });

  it("are listed together, the old key under the new one, whatever the order", () => {
    const other: Token = { ...token, id: "x", name: "Another", created_at: "2026-05-20T00:00:00Z" };
    const list = [{ ...old, created_at: "2026-01-01T00:00:00Z" }, other, { ...fresh, created_at: "2026-06-01T00:00:00Z" }];
    const ids = (sort: ListState["sort"], desc: boolean) =>
      filterSort(list, { ...DEFAULT_STATE, sort, desc }, NOW).map((t) => t.id);
    expect(ids("created_at", true)).toEqual(["new", "old", "x"]);
    expect(ids("created_at", false)).toEqual(["x", "new", "old"]);
    // Filtered apart, each is listed on its own.
    expect(filterSort(list, { ...DEFAULT_STATE, status: "rotating" }, NOW).map((t) => t.id)).toEqual(["old"]);
  });

  it("forget the pair once the old key is gone", () => {
    expect(rotationOf(fresh, new Map([["new", fresh]]))).toEqual({ role: "none" });
    expect(rotationLabel({ role: "none" }, NOW)).toBe("");
  });
});

describe("bulk changes", () => {
  it("run at most `concurrency` at once and report every failure in order", async () => {
    let running = 0;
    let most = 0;
    const progress: number[] = [];
    const out = await runBounded(
      ["a", "b", "c", "d", "e", "f"],
      2,
      async (id) => {
        running++;
        most = Math.max(most, running);
        await new Promise((r) => setTimeout(r, 5));
        running--;
        if (id === "b" || id === "e") throw new Error(`no ${id}`);
      },
      (n) => progress.push(n),
    );
    expect(most).toBe(2);
    expect(out).toEqual([{ id: "a" }, { id: "b", error: "no b" }, { id: "c" }, { id: "d" }, { id: "e", error: "no e" }, { id: "f" }]);
    expect(progress).toEqual([1, 2, 3, 4, 5, 6]);
  });
});
