// Dates, rules and limits as people read them.
import type { Credits, Refill, Rule } from "./schemas";

const DAY = 86_400_000;
/** An expiry closer than this is shown as a warning. */
export const EXPIRY_WARNING_MS = 7 * DAY;

const units: [Intl.RelativeTimeFormatUnit, number][] = [
  ["year", 365 * DAY],
  ["month", 30 * DAY],
  ["week", 7 * DAY],
  ["day", DAY],
  ["hour", 3_600_000],
  ["minute", 60_000],
];

const rtf = new Intl.RelativeTimeFormat("en", { numeric: "auto" });

/** "in 3 days", "2 hours ago", "just now". */
export function relative(iso: string, now: number = Date.now()): string {
  const diff = Date.parse(iso) - now;
  const abs = Math.abs(diff);
  for (const [unit, ms] of units) {
    if (abs >= ms) return rtf.format(Math.round(diff / ms), unit);
  }
  return diff >= 0 ? "in under a minute" : "just now";
}

/** A full, unambiguous date for titles and the audit log. */
export function absolute(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "short" });
}

export function expiresSoon(iso: string | null, now: number = Date.now()): boolean {
  if (!iso) return false;
  const left = Date.parse(iso) - now;
  return left > 0 && left < EXPIRY_WARNING_MS;
}

/** "GET,POST api.example.com/v1/*; any host /health" — or "anything" without rules. */
export function rulesSummary(rules: Rule[]): string {
  if (rules.length === 0) return "anything";
  return rules
    .map((r) => {
      const parts = [];
      if (r.methods.length) parts.push(r.methods.join(","));
      parts.push(r.hosts.length ? r.hosts.join(",") : "any host");
      if (r.paths.length) parts.push(r.paths.join(","));
      return parts.join(" ");
    })
    .join("; ");
}

/** "keep" (edit only): leave the key's current expiry as it is. */
export type ExpiryPreset = "keep" | "never" | "7d" | "30d" | "90d" | "1y" | "custom";

export const expiryPresets: { value: ExpiryPreset; label: string }[] = [
  { value: "never", label: "Never" },
  { value: "7d", label: "In 7 days" },
  { value: "30d", label: "In 30 days" },
  { value: "90d", label: "In 90 days" },
  { value: "1y", label: "In 1 year" },
  { value: "custom", label: "On a date…" },
];

const presetDays: Record<Exclude<ExpiryPreset, "keep" | "never" | "custom">, number> = {
  "7d": 7,
  "30d": 30,
  "90d": 90,
  "1y": 365,
};

/**
 * The expiry a preset means, as the API's RFC 3339 UTC date-time; null for never.
 * A custom date (yyyy-mm-dd) means 00:00 UTC that day, the way the API and the CLI
 * read a bare date.
 */
export function expiryOf(
  preset: Exclude<ExpiryPreset, "keep">,
  customDate: string,
  now: number = Date.now(),
): string | null {
  if (preset === "never") return null;
  if (preset === "custom") return customDate ? `${customDate}T00:00:00Z` : null;
  return new Date(now + presetDays[preset] * DAY).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** yyyy-mm-dd of an ISO date-time (UTC), for a date input. */
export function dateOnly(iso: string): string {
  return iso.slice(0, 10);
}

/** 9950 → "9 950" (narrow no-break spaces group the digits). */
export function groupDigits(n: number): string {
  return n.toLocaleString("en-US").replaceAll(",", "\u202f");
}

/** "9 950 credits left", "1 credit left", "no credits left". */
export function creditsLeft(c: Credits): string {
  if (c.remaining === 0) return "no credits left";
  return `${groupDigits(c.remaining)} ${c.remaining === 1 ? "credit" : "credits"} left`;
}

/** "refills 10 000 monthly", "refills 500 every 12h". */
export function refillSummary(r: Refill): string {
  const when = ["daily", "weekly", "monthly"].includes(r.interval) ? r.interval : `every ${r.interval}`;
  return `refills ${groupDigits(r.amount)} ${when}`;
}
