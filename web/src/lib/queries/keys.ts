// Keys: a scope's whole list, one key, and the changes (create, edit, rotate, revoke,
// bulk); the lists are refetched after every change.
import { keepPreviousData, useInfiniteQuery, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect } from "react";
import { seg } from "../api";
import { useAuth } from "../auth";
import type { CreateBody, PatchBody } from "../key-form-model";
import { type BulkAction, type BulkOutcome, runBounded } from "../key-list-model";
import { type AddCredits, type Token, createdSchema, keyPermissionsSchema, tokenPageSchema, tokenSchema } from "../schemas";
import { type KeyScope, LIST_KEYS, type OwnerScope, type Scope, keyPath, pagePath, scopeKey, scopePath } from "./scope";

/** The list's pages are as large as the API allows: 500 keys are one request. */
export const LIST_PAGE_SIZE = 500;

/** "Last used" changes while the list is open: it is asked again this often (and on focus). */
export const LIST_REFRESH_MS = 30_000;

/**
 * A scope's keys (mine, an owner's, or everyone's: admin). With `everyPage` (the
 * default) every page is fetched one after the other, so the list filters, sorts and
 * pages them itself; without, the first page only (everyone's keys: at 50 000 keys
 * the rest is 100 requests and 20 MB), in the server's `sort`, more on request. With `search`, only
 * the keys the server finds for it (`q`); while a new search is on its way, the last
 * answer stays (placeholder data), so the list does not blink away.
 */
export function useAllTokens(scope: Scope, search = "", opts: { sort?: string; everyPage?: boolean } = {}) {
  const { api } = useAuth();
  const { sort = "", everyPage = true } = opts;
  const q = useInfiniteQuery({
    queryKey: [...scopeKey(scope), "all", search, sort],
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) => {
      const params = new URLSearchParams();
      if (search) params.set("q", search);
      if (sort) params.set("sort", sort);
      return api.get(pagePath(scopePath(scope), pageParam, params, LIST_PAGE_SIZE), tokenPageSchema);
    },
    getNextPageParam: (last) => last.next_cursor,
    refetchInterval: LIST_REFRESH_MS,
    placeholderData: keepPreviousData,
  });
  const { hasNextPage, isFetchingNextPage, isError, isPlaceholderData, fetchNextPage } = q;
  useEffect(() => {
    if (everyPage && hasNextPage && !isFetchingNextPage && !isError && !isPlaceholderData) void fetchNextPage();
  }, [everyPage, hasNextPage, isFetchingNextPage, isError, isPlaceholderData, fetchNextPage]);
  return q;
}

/**
 * Admin: the first `limit` of everyone's keys that the server finds for `search` (`q`),
 * one request, refreshed as the lists are. For a summary (the overview's stale keys):
 * the page's `total`, when the server sends it, counts them all.
 */
export function useTokenPage(search: string, limit: number) {
  const { api } = useAuth();
  return useQuery({
    queryKey: [...scopeKey({ kind: "all" }), "page", search, limit],
    queryFn: () => api.get(pagePath("/api/tokens", undefined, new URLSearchParams({ q: search }), limit), tokenPageSchema),
    refetchInterval: LIST_REFRESH_MS,
    placeholderData: keepPreviousData,
  });
}

/** One key; `enabled: false` (it is being deleted) keeps what was read without asking again. */
export function useToken(scope: KeyScope, id: string, enabled = true) {
  const { api } = useAuth();
  return useQuery({
    queryKey: ["token", scope, id],
    queryFn: () => api.get(keyPath(scope, id), tokenSchema),
    enabled,
    // "Last used" changes while the key's page is open, as it does in the list.
    refetchInterval: LIST_REFRESH_MS,
  });
}

/**
 * A key's effective permissions and where each comes from. Under the key's own query
 * key, so every change to a key, a role or a grant (they invalidate "token") reads it again.
 */
export function useKeyPermissions(scope: KeyScope, id: string, enabled = true) {
  const { api } = useAuth();
  return useQuery({
    queryKey: ["token", scope, id, "permissions"],
    queryFn: () => api.get(`${keyPath(scope, id)}/permissions`, keyPermissionsSchema),
    enabled,
  });
}

/**
 * After a change to a key: every list is read again (the key is in its owner's and in
 * everyone's; only those on screen are fetched at once, the rest when next shown).
 */
function useRefresh() {
  const qc = useQueryClient();
  return () =>
    Promise.all([
      ...LIST_KEYS.map((queryKey) => qc.invalidateQueries({ queryKey })),
      qc.invalidateQueries({ queryKey: ["token"] }),
      qc.invalidateQueries({ queryKey: ["owners"] }),
      qc.invalidateQueries({ queryKey: ["audit"] }),
    ]);
}

/** A key is always made for an owner: mine, or (admin) someone's. */
export function useCreateToken(scope: OwnerScope) {
  const { api } = useAuth();
  const refresh = useRefresh();
  return useMutation({
    mutationFn: (body: CreateBody) => api.send("POST", scopePath(scope), body, createdSchema),
    onSuccess: refresh,
  });
}

export function useUpdateToken(scope: Scope) {
  const { api } = useAuth();
  const refresh = useRefresh();
  return useMutation({
    mutationFn: ({ id, body }: { id: string; body: Partial<PatchBody> }) =>
      api.send("PATCH", `${scopePath(scope)}/${seg(id)}`, body, tokenSchema),
    onSuccess: refresh,
  });
}

export function useRotateToken(scope: Scope) {
  const { api } = useAuth();
  const refresh = useRefresh();
  return useMutation({
    // `expiresAt`: the new key's expiry (null: never); absent keeps the old key's, which
    // the API refuses once that has passed.
    mutationFn: ({ id, graceSeconds, expiresAt }: { id: string; graceSeconds: number; expiresAt?: string | null }) =>
      api.send(
        "POST",
        `${scopePath(scope)}/${seg(id)}/rotate`,
        expiresAt === undefined ? { grace_seconds: graceSeconds } : { grace_seconds: graceSeconds, expires_at: expiresAt },
        createdSchema,
      ),
    onSuccess: refresh,
  });
}

export function useRevokeToken(scope: Scope) {
  const { api } = useAuth();
  const refresh = useRefresh();
  return useMutation({
    mutationFn: (id: string) => api.sendEmpty("DELETE", `${scopePath(scope)}/${seg(id)}`),
    onSuccess: refresh,
  });
}

/**
 * Admin: add credits to a key's balance (POST /api/tokens/{id}/credits). The key's page
 * shows the new balance at once; the lists and the audit log are read again.
 */
export function useAddCredits(id: string) {
  const { api } = useAuth();
  return useKeyAnswer((add: number) =>
    api.send("POST", `/api/tokens/${seg(id)}/credits`, { add } satisfies AddCredits, tokenSchema),
  );
}

/** Admin: sets a key's credit balance (its refill kept), audited as before → after. */
export function useSetBalance(id: string) {
  const { api } = useAuth();
  return useKeyAnswer((remaining: number) =>
    api.send("PATCH", `/api/tokens/${seg(id)}`, { limits: { credits: { remaining } } }, tokenSchema),
  );
}

/** A change answered with the key: its page shows the answer, the lists and audit refresh. */
function useKeyAnswer<V>(mutationFn: (v: V) => Promise<Token>) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn,
    onSuccess: (t: Token) => {
      for (const scope of ["me", "any"] as const) {
        if (qc.getQueryData(["token", scope, t.id]) !== undefined) qc.setQueryData(["token", scope, t.id], t);
      }
      return Promise.all([
        ...LIST_KEYS.map((queryKey) => qc.invalidateQueries({ queryKey })),
        qc.invalidateQueries({ queryKey: ["audit"] }),
      ]);
    },
  });
}

/** Bulk changes go out this many at a time (there is no bulk endpoint). */
export const BULK_CONCURRENCY = 4;

/**
 * Disable, enable or revoke many keys: one request per key, BULK_CONCURRENCY at a time.
 * Resolves with every key's outcome (it does not fail as a whole); the list is
 * refetched afterwards either way.
 */
export function useBulkChange(scope: Scope) {
  const { api } = useAuth();
  const refresh = useRefresh();
  return useMutation({
    mutationFn: ({
      action,
      ids,
      onProgress,
    }: {
      action: BulkAction;
      ids: string[];
      onProgress?: (done: number) => void;
    }): Promise<BulkOutcome[]> =>
      runBounded(
        ids,
        BULK_CONCURRENCY,
        (id) =>
          action === "revoke"
            ? api.sendEmpty("DELETE", `${scopePath(scope)}/${seg(id)}`)
            : api.send("PATCH", `${scopePath(scope)}/${seg(id)}`, { disabled: action === "disable" }, tokenSchema),
        onProgress,
      ),
    onSettled: refresh,
  });
}
