// The key list's rules, apart from React: what the URL says (filter, status, sort,
// "unused for", page), which keys match, in which order, which page of them is shown,
// how long a key has gone unused, how a rotation pair is named, and the bulk changes
// sent a few at a time.
import { rulesSummary } from "./format";
import type { Token, TokenStatus } from "./schemas";

const DAY = 86_400_000;

/** Rows on one page of the list: 500 keys are ten pages, not one long scroll. */
export const ROWS_PER_PAGE = 50;

export type SortKey = "name" | "created_at" | "expires_at" | "last_used_at" | "status" | "requests" | "refusals";

export interface ListState {
  /** Free text, matched against name, hint, id, rules and metadata. */
  q: string;
  status: TokenStatus | "all";
  sort: SortKey;
  desc: boolean;
  /** Only keys unused for at least this many days; null: any. */
  unused: number | null;
  /** 1-based; clamped to the pages there are when shown. */
  page: number;
}

export const DEFAULT_STATE: ListState = { q: "", status: "all", sort: "created_at", desc: true, unused: null, page: 1 };

export const UNUSED_CHOICES = [7, 30, 90, 180, 365] as const;

/** The sort orders offered, as `key:dir` (the URL's `sort` value). */
export const SORTS: { value: string; label: string }[] = [
  { value: "created_at:desc", label: "Newest first" },
  { value: "created_at:asc", label: "Oldest first" },
  { value: "name:asc", label: "Name A–Z" },
  { value: "name:desc", label: "Name Z–A" },
  { value: "expires_at:asc", label: "Expiring soonest" },
  { value: "last_used_at:desc", label: "Recently used" },
  { value: "last_used_at:asc", label: "Least recently used" },
  { value: "status:asc", label: "Status" },
  { value: "requests:desc", label: "Most requests (24 h)" },
  { value: "refusals:desc", label: "Most refused (24 h)" },
];

const SORT_KEYS: readonly SortKey[] = ["name", "created_at", "expires_at", "last_used_at", "status", "requests", "refusals"];
const STATUSES: readonly (TokenStatus | "all")[] = ["all", "active", "disabled", "expired", "rotating"];

/**
 * The list's state from the URL's search params. Anything unknown or malformed falls
 * back to the default for that one param (a shared link with a typo still shows keys).
 */
export function parseListState(p: URLSearchParams): ListState {
  const s = { ...DEFAULT_STATE };
  s.q = p.get("q") ?? "";
  const status = p.get("status");
  if (status && (STATUSES as readonly string[]).includes(status)) s.status = status as TokenStatus | "all";
  const [key, dir] = (p.get("sort") ?? "").split(":");
  if (key && (SORT_KEYS as readonly string[]).includes(key) && (dir === "asc" || dir === "desc")) {
    s.sort = key as SortKey;
    s.desc = dir === "desc";
  }
  const unused = p.get("unused");
  if (unused && /^\d{1,4}$/.test(unused) && Number(unused) > 0) s.unused = Number(unused);
  const page = p.get("page");
  if (page && /^\d{1,6}$/.test(page) && Number(page) >= 1) s.page = Number(page);
  return s;
}

/** The URL's search params for a state: defaults are left out, so a plain list has a plain URL. */
export function listParams(s: ListState): URLSearchParams {
  const p = new URLSearchParams();
  if (s.q) p.set("q", s.q);
  if (s.status !== DEFAULT_STATE.status) p.set("status", s.status);
  if (s.sort !== DEFAULT_STATE.sort || s.desc !== DEFAULT_STATE.desc) p.set("sort", sortValue(s));
  if (s.unused !== null) p.set("unused", String(s.unused));
  if (s.page > 1) p.set("page", String(s.page));
  return p;
}

export const sortValue = (s: Pick<ListState, "sort" | "desc">) => `${s.sort}:${s.desc ? "desc" : "asc"}`;

/**
 * Whether a key matches the filter text (case-insensitive): its name, hint, id, rules,
 * or any metadata key, value or `key=value`.
 */
export function matches(t: Token, q: string): boolean {
  const needle = q.trim().toLowerCase();
  if (!needle) return true;
  const fields = [t.name, t.hint, t.id, rulesSummary(t.rules)];
  for (const [k, v] of Object.entries(t.metadata)) fields.push(k, v, `${k}=${v}`);
  return fields.some((s) => s.toLowerCase().includes(needle));
}

/**
 * Whole days a key has gone unused: since its last use, or, never used, since it was
 * made. Null for a key used less than a day ago.
 */
export function unusedDays(t: Token, now: number): number | null {
  const since = Date.parse(t.last_used_at ?? t.created_at);
  if (Number.isNaN(since)) return null;
  const days = Math.floor((now - since) / DAY);
  return days >= 1 ? days : null;
}

/** Unused for `days` or more (see `unusedDays`). */
export const isUnused = (t: Token, now: number, days: number) => (unusedDays(t, now) ?? 0) >= days;

function compare(a: Token, b: Token, key: SortKey): number {
  // The last 24 hours (none: nothing asked).
  if (key === "requests" || key === "refusals") return (a.activity?.[key] ?? 0) - (b.activity?.[key] ?? 0);
  const av = a[key];
  const bv = b[key];
  // Missing dates sort last ("never expires", "never used").
  if (av === null && bv === null) return 0;
  if (av === null) return 1;
  if (bv === null) return -1;
  return av.localeCompare(bv, undefined, { sensitivity: "base" });
}

/** The keys the state selects, in its order; the server's order (oldest first) breaks ties. */
export function filterSort(tokens: Token[], s: ListState, now: number): Token[] {
  const order = new Map(tokens.map((t, i) => [t.id, i]));
  const list = tokens.filter(
    (t) =>
      (s.status === "all" || t.status === s.status) &&
      (s.unused === null || isUnused(t, now, s.unused)) &&
      matches(t, s.q),
  );
  list.sort((a, b) => {
    const c = compare(a, b, s.sort) || (order.get(a.id) ?? 0) - (order.get(b.id) ?? 0);
    const key = s.sort;
    const nullLast = key !== "requests" && key !== "refusals" && (a[key] === null || b[key] === null);
    return s.desc && !nullLast ? -c : c;
  });
  return pairRotations(list);
}

/**
 * A key being replaced right under its successor (when both are listed), wherever the
 * order put it: the pair reads as one, and a page never splits it.
 */
function pairRotations(list: Token[]): Token[] {
  const listed = new Set(list.map((t) => t.id));
  const follows = new Map<string, Token[]>();
  for (const t of list) {
    if (t.status === "rotating" && t.replaced_by !== null && listed.has(t.replaced_by)) {
      follows.set(t.replaced_by, [...(follows.get(t.replaced_by) ?? []), t]);
    }
  }
  if (follows.size === 0) return list;
  const out: Token[] = [];
  const placed = new Set<string>();
  const place = (t: Token) => {
    if (placed.has(t.id)) return;
    placed.add(t.id);
    out.push(t);
    for (const old of follows.get(t.id) ?? []) place(old);
  };
  for (const t of list) {
    const waits = t.status === "rotating" && t.replaced_by !== null && listed.has(t.replaced_by);
    if (!waits) place(t);
  }
  // A cycle (never made by keygate) would leave keys out: they go last rather than missing.
  for (const t of list) place(t);
  return out;
}

export interface Paged<T> {
  rows: T[];
  /** The page shown (the asked one, clamped to 1..pages). */
  page: number;
  pages: number;
  /** 1-based position of the first and last row shown; 0 and 0 for none. */
  first: number;
  last: number;
}

export function pageOf<T>(list: T[], page: number, size = ROWS_PER_PAGE): Paged<T> {
  const pages = Math.max(1, Math.ceil(list.length / size));
  const p = Math.min(Math.max(1, page), pages);
  const rows = list.slice((p - 1) * size, p * size);
  return { rows, page: p, pages, first: rows.length ? (p - 1) * size + 1 : 0, last: (p - 1) * size + rows.length };
}

/** "45 s", "12 min", "24 h", "3 d": how long, compactly (for accessible names and badges). */
export function shortDuration(ms: number): string {
  const abs = Math.max(0, ms);
  if (abs < 60_000) return "under a minute";
  if (abs < 3_600_000) return `${Math.round(abs / 60_000)} min`;
  if (abs < 2 * DAY) return `${Math.round(abs / 3_600_000)} h`;
  return `${Math.round(abs / DAY)} d`;
}

/** A key's place in a rotation, as far as the list knows the other key. */
export type Rotation =
  | { role: "none" }
  /** Replaced: works until `graceUntil`, then only its successor does. */
  | { role: "old"; other: Token | undefined; graceUntil: string | null }
  /** The successor of a key that still works for its grace period. */
  | { role: "new"; other: Token };

export function rotationOf(t: Token, byId: ReadonlyMap<string, Token>): Rotation {
  if (t.replaced_by !== null && t.status === "rotating")
    return { role: "old", other: byId.get(t.replaced_by), graceUntil: t.grace_until };
  const old = t.replaces === null ? undefined : byId.get(t.replaces);
  if (old && old.status === "rotating" && old.replaced_by === t.id) return { role: "new", other: old };
  return { role: "none" };
}

/**
 * What tells two keys of a rotation apart in accessible names (both usually carry the
 * same name): "replaced, stops in 24 h" and "new"; empty outside a rotation.
 */
export function rotationLabel(r: Rotation, now: number): string {
  if (r.role === "old") {
    if (!r.graceUntil) return "replaced";
    const left = Date.parse(r.graceUntil) - now;
    return left > 0 ? `replaced, stops in ${shortDuration(left)}` : "replaced, stopped";
  }
  return r.role === "new" ? "new" : "";
}

export type BulkAction = "disable" | "enable" | "revoke";

export interface BulkOutcome {
  id: string;
  /** The refusal's message; absent when it worked. */
  error?: string;
}

/**
 * `job` for every id, at most `concurrency` at a time; every outcome is reported (a
 * failure does not stop the others), in the order of `ids`.
 */
export async function runBounded(
  ids: string[],
  concurrency: number,
  job: (id: string) => Promise<unknown>,
  onProgress?: (done: number) => void,
): Promise<BulkOutcome[]> {
  const out: BulkOutcome[] = ids.map((id) => ({ id }));
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < ids.length) {
      const i = next++;
      const id = ids[i] as string;
      try {
        await job(id);
      } catch (e) {
        out[i] = { id, error: e instanceof Error ? e.message : String(e) };
      }
      done++;
      onProgress?.(done);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, ids.length)) }, worker));
  return out;
}
