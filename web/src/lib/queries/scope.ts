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

/** Whose keys a page shows: mine, or (admin) one owner's. */
export type Scope = { kind: "me" } | { kind: "owner"; owner: string };

export const scopePath = (s: Scope) => (s.kind === "me" ? "/api/me/tokens" : `/api/users/${seg(s.owner)}/tokens`);
export const scopeKey = (s: Scope) => ["tokens", s.kind === "me" ? "me" : s.owner] as const;

/**
 * Where one key lives: one of mine (`/api/me/tokens/{id}`), or, for an admin, anyone's
 * (`/api/tokens/{id}`, no owner needed).
 */
export type KeyScope = "me" | "any";
export const keyPath = (s: KeyScope, id: string) => `${s === "me" ? "/api/me/tokens" : "/api/tokens"}/${seg(id)}`;
