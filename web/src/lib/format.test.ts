import { describe, expect, it } from "vitest";
import { expiresSoon, relative, rulesSummary } from "./format";

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
