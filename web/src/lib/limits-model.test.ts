import { describe, expect, it } from "vitest";
import { limitedToken } from "../test-fixtures";
import {
  type LimitsValues,
  durationOf,
  emptyLimits,
  limitsOf,
  limitsPatch,
  limitsValuesOf,
  parseDuration,
  validateLimits,
  wholeNumber,
} from "./limits-model";

const row = (name: string, limit: string, every: string, unit: "s" | "m" | "h" | "d" = "m") => ({
  name,
  limit,
  every,
  unit,
});
const values = (patch: Partial<LimitsValues>): LimitsValues => ({ ...emptyLimits(), ...patch });
const original = limitedToken.limits;

describe("windows", () => {
  it("read and write the server's canonical form", () => {
    expect(parseDuration("90s")).toBe(90);
    expect(parseDuration("1h")).toBe(3600);
    expect(parseDuration("2d")).toBe(172_800);
    expect(parseDuration("1w")).toBeNull();
    expect(parseDuration("m")).toBeNull();
    expect(durationOf(60)).toBe("1m");
    expect(durationOf(90)).toBe("90s");
    expect(durationOf(7200)).toBe("2h");
    expect(durationOf(90 * 60)).toBe("90m");
    expect(durationOf(31 * 86_400)).toBe("31d");
  });
});

describe("whole numbers", () => {
  it("explain what is wrong with what was typed", () => {
    expect(wholeNumber("", 1, 10)).toEqual({ error: "Enter a number." });
    expect(wholeNumber("-3", 1, 10)).toEqual({ error: "At least 1: no negative numbers." });
    expect(wholeNumber("1.5", 1, 10)).toEqual({ error: "A whole number, without decimals." });
    expect(wholeNumber("ten", 1, 10)).toEqual({ error: "Digits only, e.g. 100." });
    expect(wholeNumber("0", 1, 10)).toEqual({ error: "At least 1." });
    expect(wholeNumber("11", 1, 10)).toEqual({ error: "At most 10." });
    expect(wholeNumber(" 10 000 ", 1, 100_000)).toBe(10_000);
    expect(wholeNumber("0", 0, 10)).toBe(0);
  });
});

describe("limits validation", () => {
  it("accepts no limits, and sensible ones", () => {
    expect(validateLimits(emptyLimits())).toEqual({});
    expect(validateLimits(limitsValuesOf(original))).toEqual({});
    expect(validateLimits(values({ rateLimits: [row("a", "1", "31", "d"), row("b", "1", "1", "s")] }))).toEqual({});
  });

  it("checks each rate limit as the server does", () => {
    const e = validateLimits(
      values({
        rateLimits: [
          row("", "0", "0"),
          row("per minute", "-5", "1.5"),
          row("dup", "1.5", "32", "d"),
          row("dup", "1000000000001", "745", "h"),
          row("x".repeat(33), "abc", ""),
        ],
      }),
      "limits.",
    );
    expect(e).toEqual({
      "limits.rateLimits.0.name": "Give the limit a name, e.g. per-minute.",
      "limits.rateLimits.0.limit": "At least 1.",
      "limits.rateLimits.0.every": "At least 1.",
      "limits.rateLimits.1.name": "Letters, digits, “_”, “.” and “-” only.",
      "limits.rateLimits.1.limit": "At least 1: no negative numbers.",
      "limits.rateLimits.1.every": "A whole number, without decimals.",
      "limits.rateLimits.2.limit": "A whole number, without decimals.",
      "limits.rateLimits.2.every": "At most 31 days.",
      "limits.rateLimits.3.name": "“dup” is already used: names must differ.",
      "limits.rateLimits.3.limit": "At most 1\u202f000\u202f000\u202f000\u202f000.",
      "limits.rateLimits.3.every": "At most 31 days.",
      "limits.rateLimits.4.name": "At most 32 characters.",
      "limits.rateLimits.4.limit": "Digits only, e.g. 100.",
      "limits.rateLimits.4.every": "Enter a number.",
    });
  });

  it("refuses owner-style names and two limits over one window, as the server does", () => {
    const e = validateLimits(
      values({
        rateLimits: [row("owner.hourly", "5", "1", "h"), row("a", "5", "60", "s"), row("b", "9", "1", "m")],
      }),
    );
    expect(e).toEqual({
      "rateLimits.0.name": "“owner.” marks an owner’s limits: choose another name.",
      "rateLimits.2.every": "Another limit already counts over this window: keep the lower one.",
    });
  });

  it("allows at most 8 rate limits", () => {
    const rows = Array.from({ length: 9 }, (_, i) => row(`r${i}`, "1", "1"));
    expect(validateLimits(values({ rateLimits: rows })).rateLimits).toBe("At most 8 rate limits.");
  });

  it("checks the balance and the refill", () => {
    const e = validateLimits(values({ credits: true, remaining: "-1", refill: "custom", refillAmount: "0", refillEvery: "30", refillUnit: "s" }));
    expect(e).toEqual({
      remaining: "At least 0: no negative numbers.",
      refillAmount: "At least 1.",
      refillEvery: "At least a minute.",
    });
    expect(validateLimits(values({ credits: true, remaining: "0" }))).toEqual({});
    expect(validateLimits(values({ credits: true, remaining: "1", refill: "custom", refillAmount: "5", refillEvery: "32", refillUnit: "d" })).refillEvery).toBe(
      "At most 31 days.",
    );
    // Credits off: what is left in their fields does not matter.
    expect(validateLimits(values({ credits: false, remaining: "-1" }))).toEqual({});
  });
});

describe("limits bodies", () => {
  it("are the contract's shape, windows in canonical form", () => {
    expect(
      limitsOf(
        values({
          rateLimits: [row(" per-minute ", "100", "60", "s"), row("per-hour", "5 000", "60")],
          credits: true,
          remaining: "9950",
          refill: "monthly",
          refillAmount: "10000",
        }),
      ),
    ).toEqual(original);
    expect(limitsOf(values({ credits: true, remaining: "5", refill: "custom", refillAmount: "5", refillEvery: "12", refillUnit: "h" })).credits).toEqual({
      remaining: 5,
      refill: { amount: 5, interval: "12h" },
    });
    expect(limitsOf(emptyLimits())).toEqual({ rate_limits: [], credits: null });
  });

  it("read the server's limits back into the form", () => {
    const v = limitsValuesOf(original);
    expect(v.rateLimits).toEqual([row("per-minute", "100", "1", "m"), row("per-hour", "5000", "1", "h")]);
    expect(v).toMatchObject({ credits: true, remaining: "9950", refill: "monthly", refillAmount: "10000" });
    const custom = limitsValuesOf({ rate_limits: [], credits: { remaining: 1, refill: { amount: 2, interval: "36h" } } });
    expect(custom).toMatchObject({ refill: "custom", refillEvery: "36", refillUnit: "h" });
    expect(limitsOf(custom).credits?.refill?.interval).toBe("36h");
  });
});

describe("an edit's limits", () => {
  const form = () => limitsValuesOf(original);

  it("are left out when nothing changed, however the window was written", () => {
    expect(limitsPatch(form(), original)).toBeUndefined();
    const v = form();
    v.rateLimits[0] = row("per-minute", "100", "60", "s");
    expect(limitsPatch(v, original)).toBeUndefined();
  });

  it("replace the whole list of rate limits when one changed", () => {
    const v = form();
    v.rateLimits = [row("per-minute", "50", "1"), ...v.rateLimits.slice(1)];
    expect(limitsPatch(v, original)).toEqual({
      rate_limits: [
        { name: "per-minute", limit: 50, window: "1m" },
        { name: "per-hour", limit: 5000, window: "1h" },
      ],
    });
    expect(limitsPatch({ ...form(), rateLimits: [] }, original)).toEqual({ rate_limits: [] });
  });

  it("keep the live balance unless it was changed", () => {
    expect(limitsPatch({ ...form(), refill: "weekly" }, original)).toEqual({
      credits: { refill: { amount: 10_000, interval: "weekly" } },
    });
    expect(limitsPatch({ ...form(), refill: "none" }, original)).toEqual({ credits: { refill: null } });
    expect(limitsPatch({ ...form(), remaining: "20000" }, original)).toEqual({ credits: { remaining: 20_000 } });
  });

  it("remove the quota with null, and send a whole one where there was none", () => {
    expect(limitsPatch({ ...form(), credits: false }, original)).toEqual({ credits: null });
    const none = { rate_limits: [], credits: null };
    expect(limitsPatch(values({ credits: true, remaining: "5" }), none)).toEqual({ credits: { remaining: 5, refill: null } });
    expect(limitsPatch(values({}), none)).toBeUndefined();
  });
});
