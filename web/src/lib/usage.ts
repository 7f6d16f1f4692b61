// Usage analytics as the UI asks for and shows them: the ranges one can pick, the
// outcomes in the order they stack, and sums.
import type { OutcomeCounts, UsageSeries } from "./schemas";

/** A decision's outcome (the upstream's answers are counted beside them). */
export type Outcome = "allowed" | "forbidden" | "refused" | "rate_limited" | "usage_exceeded";

/** Bottom to top of a stack; `color` names the CSS variable each is drawn in. */
export const outcomes: { key: Outcome; label: string; color: string }[] = [
  { key: "allowed", label: "Allowed", color: "--chart-allowed" },
  { key: "forbidden", label: "Forbidden", color: "--chart-forbidden" },
  { key: "refused", label: "Refused", color: "--chart-refused" },
  { key: "rate_limited", label: "Rate limited", color: "--chart-rate-limited" },
  { key: "usage_exceeded", label: "Usage exceeded", color: "--chart-usage-exceeded" },
];

export type RangePreset = "1h" | "24h" | "7d" | "30d" | "90d";

const HOUR = 3_600_000;
/** Each range and its step: at most a few hundred buckets (the API takes 1 500). */
export const rangePresets: { value: RangePreset; label: string; ms: number; step: UsageSeries["step"] }[] = [
  { value: "1h", label: "1 hour", ms: HOUR, step: "minute" },
  { value: "24h", label: "24 hours", ms: 24 * HOUR, step: "hour" },
  { value: "7d", label: "7 days", ms: 7 * 24 * HOUR, step: "hour" },
  { value: "30d", label: "30 days", ms: 30 * 24 * HOUR, step: "day" },
  { value: "90d", label: "90 days", ms: 90 * 24 * HOUR, step: "day" },
];

const stepMs = { minute: 60_000, hour: HOUR, day: 24 * HOUR };

/**
 * The query string of a range ending now: `to` is the end of the current bucket, so
 * the last bucket is the one happening now and the answer stays the same for a while
 * (the query can be cached by it).
 */
export function rangeQuery(preset: RangePreset, now: number = Date.now()): string {
  const r = rangePresets.find((p) => p.value === preset) ?? rangePresets[1];
  if (!r) return "";
  const size = stepMs[r.step];
  const to = Math.floor(now / size) * size + size;
  const from = to - r.ms;
  const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
  return new URLSearchParams({ from: iso(from), to: iso(to), step: r.step }).toString();
}

/** Everything that was not allowed. */
export function refusals(c: OutcomeCounts): number {
  return c.forbidden + c.refused + c.rate_limited + c.usage_exceeded;
}

export function total(c: OutcomeCounts): number {
  return c.allowed + refusals(c);
}

/** What the upstream answered the requests keygate's inline proxy let through. */
export interface UpstreamAnswers {
  success: number;
  redirect: number;
  clientError: number;
  serverError: number;
  failed: number;
  total: number;
  /** Server errors and no answer, of all answers (0 to 1); `null` without answers. */
  errorRate: number | null;
}

export function upstreamAnswers(c: OutcomeCounts): UpstreamAnswers {
  const a = {
    success: c.upstream_2xx ?? 0,
    redirect: c.upstream_3xx ?? 0,
    clientError: c.upstream_4xx ?? 0,
    serverError: c.upstream_5xx ?? 0,
    failed: c.upstream_failed ?? 0,
  };
  const total = a.success + a.redirect + a.clientError + a.serverError + a.failed;
  return { ...a, total, errorRate: total === 0 ? null : (a.serverError + a.failed) / total };
}

/** A bucket's start as people read it, at the precision of the step. */
export function bucketLabel(iso: string, step: UsageSeries["step"]): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  // The browser's locale and zone, as every date in the UI (lib/format.ts).
  if (step === "day") return d.toLocaleDateString(undefined, { dateStyle: "medium" });
  return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}
