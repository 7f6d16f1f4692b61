// Usage limits as a form edits them: rate limits (name, requests, window) and credits
// (balance, refill). Checked the way the server checks them (docs: the API contract of
// issue 13), turned into request bodies, and compared with a key's current limits so an
// edit sends only what changed.
import { groupDigits } from "./format";
import type { CreditsPatch, Limits, LimitsPatch, RateLimit, Refill } from "./schemas";

export type Unit = "s" | "m" | "h" | "d";

export const UNIT_SECONDS: Record<Unit, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

export const unitOptions: { value: Unit; label: string }[] = [
  { value: "s", label: "seconds" },
  { value: "m", label: "minutes" },
  { value: "h", label: "hours" },
  { value: "d", label: "days" },
];

export const LIMIT_BOUNDS = {
  rateLimits: 8,
  name: 32,
  limit: 1_000_000_000_000,
  credits: 1_000_000_000_000_000,
  /** Windows: 1 s to 31 days. */
  windowMax: 31 * 86_400,
  /** A custom refill interval: at least a minute. */
  refillMin: 60,
} as const;

export interface RateLimitRow {
  name: string;
  /** Requests per window, as typed. */
  limit: string;
  /** The window: `every` `unit`s. */
  every: string;
  unit: Unit;
}

export type RefillChoice = "none" | "daily" | "weekly" | "monthly" | "custom";

export const refillOptions: { value: RefillChoice; label: string }[] = [
  { value: "none", label: "Never" },
  { value: "daily", label: "Daily" },
  { value: "weekly", label: "Weekly" },
  { value: "monthly", label: "Monthly" },
  { value: "custom", label: "Every…" },
];

export interface LimitsValues {
  rateLimits: RateLimitRow[];
  /** A credit quota at all. */
  credits: boolean;
  /** The balance, as typed. */
  remaining: string;
  refill: RefillChoice;
  /** What a refill sets the balance to. */
  refillAmount: string;
  /** A custom refill interval: `refillEvery` `refillUnit`s. */
  refillEvery: string;
  refillUnit: Unit;
}

/** Field path (under the given prefix) → message. */
export type LimitErrors = Record<string, string>;

export const emptyLimits = (): LimitsValues => ({
  rateLimits: [],
  credits: false,
  remaining: "",
  refill: "none",
  refillAmount: "",
  refillEvery: "",
  refillUnit: "d",
});

export const emptyRateLimit = (): RateLimitRow => ({ name: "", limit: "", every: "1", unit: "m" });

/** "90s" → 90, "1h" → 3600; null for anything else. */
export function parseDuration(s: string): number | null {
  const m = /^(\d{1,12})([smhd])$/.exec(s.trim());
  if (!m?.[1] || !m[2]) return null;
  return Number(m[1]) * UNIT_SECONDS[m[2] as Unit];
}

/** A number of seconds in the largest unit that divides it exactly: 60 → "1m", 90 → "90s". */
export function durationOf(seconds: number): string {
  const { every, unit } = splitDuration(seconds);
  return `${every}${unit}`;
}

function splitDuration(seconds: number): { every: string; unit: Unit } {
  for (const unit of ["d", "h", "m"] as const) {
    if (seconds >= UNIT_SECONDS[unit] && seconds % UNIT_SECONDS[unit] === 0) {
      return { every: String(seconds / UNIT_SECONDS[unit]), unit };
    }
  }
  return { every: String(seconds), unit: "s" };
}

/** The server's canonical form of a window string, or the string itself if it is not one. */
const canonical = (window: string) => {
  const s = parseDuration(window);
  return s === null ? window : durationOf(s);
};

/** The form's values for limits the server answered. */
export function limitsValuesOf(l: Limits): LimitsValues {
  const v = emptyLimits();
  v.rateLimits = l.rate_limits.map((r) => {
    const s = parseDuration(r.window);
    const w = s === null ? { every: "", unit: "m" as const } : splitDuration(s);
    return { name: r.name, limit: String(r.limit), ...w };
  });
  if (l.credits) {
    v.credits = true;
    v.remaining = String(l.credits.remaining);
    const refill = l.credits.refill;
    if (refill) {
      v.refillAmount = String(refill.amount);
      if (refill.interval === "daily" || refill.interval === "weekly" || refill.interval === "monthly") {
        v.refill = refill.interval;
      } else {
        v.refill = "custom";
        const s = parseDuration(refill.interval);
        if (s !== null) Object.assign(v, { refillEvery: splitDuration(s).every, refillUnit: splitDuration(s).unit });
      }
    }
  }
  return v;
}

/** A whole number typed into the form (spaces and "_" may group digits), or why it is not one. */
export function wholeNumber(typed: string, min: number, max: number): number | { error: string } {
  const s = typed.replace(/[\s_\u00a0\u202f]/g, "");
  if (!s) return { error: "Enter a number." };
  if (/^-\d/.test(s)) return { error: `At least ${groupDigits(min)}: no negative numbers.` };
  if (/^\d*[.,]\d+$/.test(s)) return { error: "A whole number, without decimals." };
  if (!/^\d+$/.test(s)) return { error: "Digits only, e.g. 100." };
  const n = Number(s);
  if (n < min) return { error: `At least ${groupDigits(min)}.` };
  if (n > max) return { error: `At most ${groupDigits(max)}.` };
  return n;
}

const NAME = /^[A-Za-z0-9_.-]+$/;

function durationError(every: string, unit: Unit, minSeconds: number): string | null {
  const n = wholeNumber(every, 1, Number.MAX_SAFE_INTEGER);
  if (typeof n !== "number") return n.error;
  const seconds = n * UNIT_SECONDS[unit];
  if (seconds > LIMIT_BOUNDS.windowMax) return "At most 31 days.";
  if (seconds < minSeconds) return "At least a minute.";
  return null;
}

/** Every problem with the limits, keyed `${prefix}rateLimits.0.name` and so on; empty when they can be sent. */
export function validateLimits(v: LimitsValues, prefix = ""): LimitErrors {
  const errors: LimitErrors = {};
  if (v.rateLimits.length > LIMIT_BOUNDS.rateLimits) {
    errors[`${prefix}rateLimits`] = `At most ${LIMIT_BOUNDS.rateLimits} rate limits.`;
  }
  const seen = new Set<string>();
  // A window is counted once, whatever the limit is called (the server refuses two).
  const windows = new Set<number>();
  v.rateLimits.forEach((r, i) => {
    const at = `${prefix}rateLimits.${i}`;
    const name = r.name.trim();
    if (!name) errors[`${at}.name`] = "Give the limit a name, e.g. per-minute.";
    else if (name.length > LIMIT_BOUNDS.name) errors[`${at}.name`] = `At most ${LIMIT_BOUNDS.name} characters.`;
    else if (!NAME.test(name)) errors[`${at}.name`] = "Letters, digits, “_”, “.” and “-” only.";
    else if (name.startsWith("owner.")) errors[`${at}.name`] = "“owner.” marks an owner’s limits: choose another name.";
    else if (seen.has(name)) errors[`${at}.name`] = `“${name}” is already used: names must differ.`;
    seen.add(name);
    const limit = wholeNumber(r.limit, 1, LIMIT_BOUNDS.limit);
    if (typeof limit !== "number") errors[`${at}.limit`] = limit.error;
    const window = durationError(r.every, r.unit, 1);
    if (window) errors[`${at}.every`] = window;
    else {
      const seconds = num(r.every) * UNIT_SECONDS[r.unit];
      if (windows.has(seconds)) errors[`${at}.every`] = "Another limit already counts over this window: keep the lower one.";
      windows.add(seconds);
    }
  });
  if (v.credits) {
    const remaining = wholeNumber(v.remaining, 0, LIMIT_BOUNDS.credits);
    if (typeof remaining !== "number") errors[`${prefix}remaining`] = remaining.error;
    if (v.refill !== "none") {
      const amount = wholeNumber(v.refillAmount, 1, LIMIT_BOUNDS.credits);
      if (typeof amount !== "number") errors[`${prefix}refillAmount`] = amount.error;
    }
    if (v.refill === "custom") {
      const every = durationError(v.refillEvery, v.refillUnit, LIMIT_BOUNDS.refillMin);
      if (every) errors[`${prefix}refillEvery`] = every;
    }
  }
  return errors;
}

/** Only for values that passed validateLimits. */
const num = (typed: string) => Number(typed.replace(/[\s_\u00a0\u202f]/g, ""));

export function rateLimitsOf(v: LimitsValues): RateLimit[] {
  return v.rateLimits.map((r) => ({
    name: r.name.trim(),
    limit: num(r.limit),
    window: durationOf(num(r.every) * UNIT_SECONDS[r.unit]),
  }));
}

export function refillOf(v: LimitsValues): Refill | null {
  if (v.refill === "none") return null;
  const interval = v.refill === "custom" ? durationOf(num(v.refillEvery) * UNIT_SECONDS[v.refillUnit]) : v.refill;
  return { amount: num(v.refillAmount), interval };
}

/** The limits in full: a create body's `limits`, an owner's PUT body. */
export function limitsOf(v: LimitsValues): Limits {
  return {
    rate_limits: rateLimitsOf(v),
    credits: v.credits ? { remaining: num(v.remaining), refill: refillOf(v) } : null,
  };
}

const sameRateLimits = (a: RateLimit[], b: RateLimit[]) =>
  a.length === b.length &&
  a.every((x, i) => {
    const y = b[i];
    return y !== undefined && x.name === y.name && x.limit === y.limit && canonical(x.window) === canonical(y.window);
  });

const sameRefill = (a: Refill | null, b: Refill | null) =>
  a === null || b === null ? a === b : a.amount === b.amount && canonical(a.interval) === canonical(b.interval);

/**
 * What a PATCH must say to turn `original` into the form's limits; undefined when
 * nothing changed. An untouched balance is left out: the server's count is live, and
 * sending back the number the form was opened with would undo what was spent since.
 */
export function limitsPatch(v: LimitsValues, original: Limits): LimitsPatch | undefined {
  const patch: LimitsPatch = {};
  const rateLimits = rateLimitsOf(v);
  if (!sameRateLimits(rateLimits, original.rate_limits)) patch.rate_limits = rateLimits;
  const before = original.credits;
  if (!v.credits) {
    if (before) patch.credits = null;
  } else if (!before) {
    patch.credits = { remaining: num(v.remaining), refill: refillOf(v) };
  } else {
    const credits: CreditsPatch = {};
    if (num(v.remaining) !== before.remaining) credits.remaining = num(v.remaining);
    const refill = refillOf(v);
    if (!sameRefill(refill, before.refill)) credits.refill = refill;
    if (Object.keys(credits).length > 0) patch.credits = credits;
  }
  return Object.keys(patch).length > 0 ? patch : undefined;
}
