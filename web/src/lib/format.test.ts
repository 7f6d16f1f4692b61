import { describe, expect, it } from "vitest";
import { creditsLeft, expiresSoon, refillSummary, relative, rulesSummary } from "./format";

const NOW = Date.parse("2026-06-01T12:00:00Z");

describe("format", () => {
  it("says dates relative to now", () => {
    expect(relative("2026-06-04T12:00:00Z", NOW)).toBe("in 3 days");
    expect(relative("2026-06-01T10:00:00Z", NOW)).toBe("2 hours ago");
    expect(relative("2026-06-01T11:59:40Z", NOW)).toBe("just now");
  });

  it("warns about expiry within a week, not after or once past", () => {
    expect(expiresSoon("2026-06-05T00:00:00Z", NOW)).toBe(true);
    expect(expiresSoon("2026-06-20T00:00:00Z", NOW)).toBe(false);
    expect(expiresSoon("2026-05-20T00:00:00Z", NOW)).toBe(false);
    expect(expiresSoon(null, NOW)).toBe(false);
  });

  it("summarises rules", () => {
    expect(rulesSummary([])).toBe("anything");
    expect(rulesSummary([{ hosts: ["api.example.com"], paths: ["/v1/*"], methods: ["GET"] }, { hosts: [], paths: ["/health"], methods: [] }])).toBe(
      "GET api.example.com /v1/*; any host /health",
    );
  });
});

describe("limits as text", () => {
  it("are short and grouped", () => {
    expect(creditsLeft({ remaining: 9950, refill: null })).toBe("9\u202f950 credits left");
    expect(creditsLeft({ remaining: 1, refill: null })).toBe("1 credit left");
    expect(creditsLeft({ remaining: 0, refill: null })).toBe("no credits left");
    expect(refillSummary({ amount: 10_000, interval: "monthly" })).toBe("refills 10\u202f000 monthly");
    expect(refillSummary({ amount: 500, interval: "12h" })).toBe("refills 500 every 12h");
  });
});
