import { describe, expect, it } from "vitest";
import { allUsageSchema, ownerUsageSchema, usageSeriesSchema } from "./schemas";
import { rangeQuery, refusals, total, upstreamAnswers } from "./usage";

const counts = { allowed: 5, forbidden: 1, refused: 2, rate_limited: 3, usage_exceeded: 4 };
const series = {
  from: "2026-12-01T00:00:00Z",
  to: "2026-12-01T02:00:00Z",
  step: "hour",
  totals: counts,
  points: [
    { t: "2026-12-01T00:00:00Z", ...counts },
    { t: "2026-12-01T01:00:00Z", allowed: 0, forbidden: 0, refused: 0, rate_limited: 0, usage_exceeded: 0 },
  ],
};

describe("usage", () => {
  it("reads the upstream's answers and their error rate (server errors and none)", () => {
    expect(upstreamAnswers(counts).errorRate).toBeNull();
    const a = upstreamAnswers({ ...counts, upstream_2xx: 6, upstream_3xx: 1, upstream_5xx: 2, upstream_failed: 1 });
    expect(a).toEqual({ success: 6, redirect: 1, clientError: 0, serverError: 2, failed: 1, total: 10, errorRate: 0.3 });
    // Upstream answers are of decided requests, not more of them.
    expect(total({ ...counts, upstream_2xx: 6 })).toBe(total(counts));
  });

  it("asks for a range ending with the current bucket, in the range's step", () => {
    const now = Date.parse("2026-12-01T10:17:30Z");
    expect(new URLSearchParams(rangeQuery("24h", now)).toString()).toBe(
      "from=2026-11-30T11%3A00%3A00Z&to=2026-12-01T11%3A00%3A00Z&step=hour",
    );
    const hour = new URLSearchParams(rangeQuery("1h", now));
    expect([hour.get("from"), hour.get("to"), hour.get("step")]).toEqual([
      "2026-12-01T09:18:00Z",
      "2026-12-01T10:18:00Z",
      "minute",
    ]);
    expect(new URLSearchParams(rangeQuery("90d", now)).get("step")).toBe("day");
    expect(new URLSearchParams(rangeQuery("90d", now)).get("to")).toBe("2026-12-02T00:00:00Z");
  });

  it("counts refusals as everything not allowed", () => {
    expect(refusals(counts)).toBe(10);
    expect(total(counts)).toBe(15);
  });

  it("reads the three answers' shapes", () => {
    expect(usageSeriesSchema.parse(series).points).toHaveLength(2);
    expect(
      ownerUsageSchema.parse({ owner: "alice", series, keys: [{ id: "k1", name: "a", totals: counts }] }).next_cursor,
    ).toBeUndefined();
    const all = allUsageSchema.parse({
      series,
      top_keys: [{ id: "gone", totals: counts }],
      top_owners: [{ owner: "alice", totals: counts }],
      top_refused_keys: [],
      top_refused_owners: [],
    });
    expect(all.top_keys[0]?.owner).toBeUndefined();
    expect(usageSeriesSchema.safeParse({ ...series, step: "week" }).success).toBe(false);
  });
});
