import { describe, expect, it } from "vitest";
import {
  absolute,
  absoluteSeconds,
  creditsLeft,
  dateOnly,
  expiresSoon,
  expiryOf,
  fromLocalInput,
  localMidnight,
  refillSummary,
  relative,
  relativeAndAbsolute,
  rulesSummary,
  toLocalInput,
  zoneLabel,
} from "./format";

const NOW = Date.parse("2026-06-01T12:00:00Z");

describe("format", () => {
  it("says dates relative to now", () => {
    expect(relative("2026-06-04T12:00:00Z", NOW)).toBe("in 3 days");
    expect(relative("2026-06-01T10:00:00Z", NOW)).toBe("2 hours ago");
    expect(relative("2026-06-01T11:59:40Z", NOW)).toBe("just now");
  });

  it("writes dates in the given locale and zone, with the zone", () => {
    expect(absolute("2026-06-01T12:00:05Z", { locale: "de-DE", timeZone: "Europe/Berlin" })).toBe("1. Juni 2026, 14:00 MESZ");
    expect(absolute("2026-06-01T12:00:05Z", { locale: "en-GB", timeZone: "UTC" })).toBe("1 Jun 2026, 12:00 UTC");
    expect(absolute("2026-06-01T12:00:05Z", { locale: "en-US", timeZone: "America/New_York" })).toBe("Jun 1, 2026, 08:00 AM EDT");
    expect(absolute("not a date")).toBe("not a date");
  });

  it("writes audit times to the second", () => {
    expect(absoluteSeconds("2026-06-01T12:00:05Z", { locale: "de-DE", timeZone: "Europe/Berlin" })).toBe("1. Juni 2026, 14:00:05 MESZ");
  });

  it("uses the browser's locale and zone by default", () => {
    const browser = new Date("2026-06-01T12:00:05Z").toLocaleString(undefined, {
      year: "numeric",
      month: "short",
      day: "numeric",
      hour: "2-digit",
      minute: "2-digit",
      timeZoneName: "short",
    });
    expect(absolute("2026-06-01T12:00:05Z")).toBe(browser);
  });

  it("puts the date next to the relative phrase", () => {
    expect(relativeAndAbsolute("2026-06-04T12:00:00Z", NOW, { locale: "en-GB", timeZone: "UTC" })).toBe(
      "in 3 days (4 Jun 2026, 12:00 UTC)",
    );
  });

  it("names the zone and its offset", () => {
    expect(zoneLabel(Date.parse("2026-01-15T00:00:00Z"), "Europe/Paris")).toBe("Europe/Paris, UTC+1");
    expect(zoneLabel(Date.parse("2026-07-15T00:00:00Z"), "Europe/Paris")).toBe("Europe/Paris, UTC+2");
    expect(zoneLabel(Date.parse("2026-07-15T00:00:00Z"), "Asia/Kolkata")).toBe("Asia/Kolkata, UTC+5:30");
    expect(zoneLabel(Date.parse("2026-07-15T00:00:00Z"), "UTC")).toBe("UTC");
  });

  it("reads and writes local dates in the browser's zone", () => {
    const local = new Date(2026, 6, 15); // 00:00 local
    expect(localMidnight("2026-07-15")).toBe(local.toISOString().replace(/\.\d{3}Z$/, "Z"));
    expect(expiryOf("custom", "2026-07-15", NOW)).toBe(localMidnight("2026-07-15"));
    expect(localMidnight("2026-02-30")).toBeNull();
    expect(localMidnight("15/07/2026")).toBeNull();
    expect(dateOnly(local.toISOString())).toBe("2026-07-15");
    const at = new Date(2026, 6, 15, 9, 30).toISOString();
    expect(toLocalInput(at)).toBe("2026-07-15T09:30");
    expect(fromLocalInput("2026-07-15T09:30")).toBe(at.replace(/\.\d{3}Z$/, "Z"));
    expect(fromLocalInput("yesterday")).toBeNull();
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
