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

// Relative phrases are sentences of the UI, so they are in its language (English);
// dates, times and zones are in the browser's locale and time zone.
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

/** Where dates are written, and how: the browser's by default; tests pin both. */
export interface DateStyle {
  /** With seconds (the audit log). */
  seconds?: boolean;
  /** A BCP 47 locale; undefined: the browser's. */
  locale?: string;
  /** An IANA zone; undefined: the browser's. */
  timeZone?: string;
}

/**
 * A full, unambiguous date and time in the browser's locale, with its time zone:
 * "1 Jun 2026, 14:00 CEST", "01.06.2026, 14:00:05 MESZ", "Jun 1, 2026, 2:00 PM EDT".
 */
export function absolute(iso: string, style: DateStyle = {}): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(style.locale, {
    year: "numeric",
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    ...(style.seconds ? { second: "2-digit" } : {}),
    timeZoneName: "short",
    ...(style.timeZone ? { timeZone: style.timeZone } : {}),
  });
}

/** The same, to the second: what the audit log shows. */
export const absoluteSeconds = (iso: string, style: Omit<DateStyle, "seconds"> = {}) =>
  absolute(iso, { ...style, seconds: true });

/** "in 3 days (5 Jun 2026, 14:00 CEST)": the relative phrase and the date it means, both on screen. */
export function relativeAndAbsolute(iso: string, now: number = Date.now(), style: DateStyle = {}): string {
  return `${relative(iso, now)} (${absolute(iso, style)})`;
}

/** The browser's time zone: its IANA name and its current offset, "Europe/Paris, UTC+1". */
export function zoneLabel(at: number = Date.now(), timeZone?: string): string {
  const zone = timeZone ?? Intl.DateTimeFormat().resolvedOptions().timeZone;
  const part = new Intl.DateTimeFormat("en-US", { timeZone: zone, timeZoneName: "shortOffset" })
    .formatToParts(at)
    .find((p) => p.type === "timeZoneName")?.value;
  // "GMT+1", "GMT-5:30", "GMT" (no offset) → UTC…
  const offset = part ? part.replace(/^GMT/, "UTC").replace(/^UTC[+-]0$/, "UTC") : "";
  return offset && offset !== zone ? `${zone}, ${offset}` : zone;
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
 * A custom date (yyyy-mm-dd) means 00:00 that day in the browser's time zone, the zone
 * the form names next to the date and every date is shown in.
 */
export function expiryOf(
  preset: Exclude<ExpiryPreset, "keep">,
  customDate: string,
  now: number = Date.now(),
): string | null {
  if (preset === "never") return null;
  if (preset === "custom") return customDate ? localMidnight(customDate) : null;
  return new Date(now + presetDays[preset] * DAY).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** 00:00 of a yyyy-mm-dd day in the browser's zone, as RFC 3339 UTC; null if not a date. */
export function localMidnight(day: string): string | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day);
  if (!m) return null;
  const d = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  if (Number.isNaN(d.getTime()) || d.getDate() !== Number(m[3])) return null;
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** yyyy-mm-dd of an ISO date-time in the browser's zone, for a date input. */
export function dateOnly(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** yyyy-mm-ddThh:mm (local, for a datetime-local input) ↔ RFC 3339 UTC. */
export function fromLocalInput(v: string): string | null {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/.test(v)) return null;
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? null : d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

export function toLocalInput(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${dateOnly(iso)}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
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

/**
 * uPlot's axis templates ("{h}:{mm}{aa}\n{M}/{D}/{YY}", "{D}", "{MMM}", …) as
 * `Intl.DateTimeFormat` in the browser's locale: the template only says which parts a
 * label shows; their order and names are the locale's. A "\n" keeps its two lines.
 */
export function axisDate(tpl: string): (d: Date) => string {
  const lines = tpl.split("\n").map((part) => {
    const o: Intl.DateTimeFormatOptions = {};
    if (/\{YY(YY)?\}/.test(part)) o.year = "numeric";
    if (/\{MMMM?\}|\{MM?\}/.test(part)) o.month = "short";
    if (/\{DD?\}/.test(part)) o.day = "numeric";
    if (/\{hh?\}|\{HH?\}/.test(part)) o.hour = "numeric";
    if (/\{mm\}/.test(part)) o.minute = "2-digit";
    if (/\{ss\}/.test(part)) o.second = "2-digit";
    return Object.keys(o).length ? new Intl.DateTimeFormat(undefined, o) : null;
  });
  return (d) => lines.map((f) => (f ? f.format(d) : "")).join("\n");
}
