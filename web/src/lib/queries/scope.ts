// Where the API keeps a scope's keys, and how their pages are asked for: shared by the
// per-resource query files next to this one.
import { seg } from "../api";

/** Items per page of the key and owner lists; more are fetched with "Load more". */
export const PAGE_SIZE = 100;

/** `path` with `limit` and, after the first page, the server's opaque `cursor`. */
export function pagePath(path: string, cursor: string | undefined, extra?: URLSearchParams, limit = PAGE_SIZE): string {
  const p = new URLSearchParams(extra);
  p.set("limit", String(limit));
  if (cursor !== undefined) p.set("cursor", cursor);
  return `${path}?${p.toString()}`;
}

/** One owner's keys: mine, or (admin) someone's. A key is made in such a scope. */
export type OwnerScope = { kind: "me" } | { kind: "owner"; owner: string };

/**
 * Whose keys a page shows: an owner's, or (admin) everyone's. Everyone's are read,
 * changed and revoked through `/api/tokens`, but made only for an owner (there is no
 * POST /api/tokens: a key always has one).
 */
export type Scope = OwnerScope | { kind: "all" };

export function scopePath(s: Scope): string {
  switch (s.kind) {
    case "me":
      return "/api/me/tokens";
    case "owner":
      return `/api/users/${seg(s.owner)}/tokens`;
    case "all":
      return "/api/tokens";
  }
}

/**
 * The lists' query keys. Everyone's keys sit apart from the owners' ("tokens", owner),
 * so that an owner named "all" or "me" never shares a cache entry with them.
 */
export const scopeKey = (s: Scope) =>
  s.kind === "all" ? (["every-token"] as const) : (["tokens", s.kind === "me" ? "me" : s.owner] as const);

/** Every key list (mine, owners', everyone's): what a change to any key may touch. */
export const LIST_KEYS = [["tokens"], ["every-token"]] as const;

/**
 * Where one key lives: one of mine (`/api/me/tokens/{id}`), or, for an admin, anyone's
 * (`/api/tokens/{id}`, no owner needed).
 */
export type KeyScope = "me" | "any";
export const keyPath = (s: KeyScope, id: string) => `${s === "me" ? "/api/me/tokens" : "/api/tokens"}/${seg(id)}`;
