// Server state through TanStack Query: one hook per API call, keys by scope, and the
// list refetched after every change.
import { useInfiniteQuery, useMutation, useQueries, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect } from "react";
import { seg } from "./api";
import { useAuth } from "./auth";
import type { CreateBody, PatchBody } from "./key-form-model";
import { type BulkAction, type BulkOutcome, runBounded } from "./key-list-model";
import {
  type Limits,
  allUsageSchema,
  auditPageSchema,
  createdSchema,
  meSchema,
  ownerLimitsSchema,
  ownerPageSchema,
  ownerUsageSchema,
  tokenPageSchema,
  tokenSchema,
  usageSeriesSchema,
} from "./schemas";
import { type RangePreset, rangeQuery } from "./usage";

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
const scopeKey = (s: Scope) => ["tokens", s.kind === "me" ? "me" : s.owner] as const;

export function useMe() {
  const { api, session } = useAuth();
  return useQuery({
    queryKey: ["me", session?.token],
    queryFn: () => api.get("/api/me", meSchema),
    enabled: session !== null,
    staleTime: 60_000,
  });
}

/** The list's pages are as large as the API allows: 500 keys are one request. */
export const LIST_PAGE_SIZE = 500;

/** "Last used" changes while the list is open: it is asked again this often (and on focus). */
export const LIST_REFRESH_MS = 30_000;

/**
 * All of a scope's keys (mine, or an owner's; `null`: everyone's, admin), every page
 * fetched one after the other, so the list filters, sorts and pages them itself.
 */
export function useAllTokens(scope: Scope | null) {
  const { api } = useAuth();
  const q = useInfiniteQuery({
    queryKey: scope ? [...scopeKey(scope), "all"] : ["every-token"],
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) =>
      api.get(pagePath(scope ? scopePath(scope) : "/api/tokens", pageParam, undefined, LIST_PAGE_SIZE), tokenPageSchema),
    getNextPageParam: (last) => last.next_cursor,
    refetchInterval: LIST_REFRESH_MS,
  });
  const { hasNextPage, isFetchingNextPage, isError, fetchNextPage } = q;
  useEffect(() => {
    if (hasNextPage && !isFetchingNextPage && !isError) void fetchNextPage();
  }, [hasNextPage, isFetchingNextPage, isError, fetchNextPage]);
  return q;
}

function useRefresh(scope: Scope) {
  const qc = useQueryClient();
  return () =>
    Promise.all([
      qc.invalidateQueries({ queryKey: scopeKey(scope) }),
      qc.invalidateQueries({ queryKey: ["token"] }),
      qc.invalidateQueries({ queryKey: ["owners"] }),
      qc.invalidateQueries({ queryKey: ["audit"] }),
    ]);
}

export function useCreateToken(scope: Scope) {
  const { api } = useAuth();
  const refresh = useRefresh(scope);
  return useMutation({
    mutationFn: (body: CreateBody) => api.send("POST", scopePath(scope), body, createdSchema),
    onSuccess: refresh,
  });
}

export function useUpdateToken(scope: Scope) {
  const { api } = useAuth();
  const refresh = useRefresh(scope);
  return useMutation({
    mutationFn: ({ id, body }: { id: string; body: Partial<PatchBody> }) =>
      api.send("PATCH", `${scopePath(scope)}/${seg(id)}`, body, tokenSchema),
    onSuccess: refresh,
  });
}

export function useRotateToken(scope: Scope) {
  const { api } = useAuth();
  const refresh = useRefresh(scope);
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
  const refresh = useRefresh(scope);
  return useMutation({
    mutationFn: (id: string) => api.sendEmpty("DELETE", `${scopePath(scope)}/${seg(id)}`),
    onSuccess: refresh,
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
  const refresh = useRefresh(scope);
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

const limitsPath = (s: Scope) => (s.kind === "me" ? "/api/me/limits" : `/api/users/${seg(s.owner)}/limits`);
const limitsKey = (s: Scope) => ["limits", s.kind === "me" ? "me" : s.owner] as const;

/** The limits shared by all of an owner's keys (mine, or, for an admin, anyone's). */
export function useOwnerLimits(scope: Scope) {
  const { api } = useAuth();
  return useQuery({
    queryKey: limitsKey(scope),
    queryFn: () => api.get(limitsPath(scope), ownerLimitsSchema),
  });
}

/** Admin: set an owner's limits (PUT replaces them all). */
export function useSetOwnerLimits(owner: string) {
  const { api } = useAuth();
  const qc = useQueryClient();
  const scope: Scope = { kind: "owner", owner };
  return useMutation({
    mutationFn: (limits: Limits) => api.send("PUT", limitsPath(scope), limits, ownerLimitsSchema),
    onSuccess: (answer) => {
      qc.setQueryData(limitsKey(scope), answer);
      return qc.invalidateQueries({ queryKey: ["audit"] });
    },
  });
}

/** Admin: drop an owner's own limits; the configured default applies again. */
export function useResetOwnerLimits(owner: string) {
  const { api } = useAuth();
  const qc = useQueryClient();
  const scope: Scope = { kind: "owner", owner };
  return useMutation({
    mutationFn: () => api.sendEmpty("DELETE", limitsPath(scope)),
    onSuccess: () =>
      Promise.all([qc.invalidateQueries({ queryKey: limitsKey(scope) }), qc.invalidateQueries({ queryKey: ["audit"] })]),
  });
}

export function useOwners(q: string) {
  const { api } = useAuth();
  return useInfiniteQuery({
    queryKey: ["owners", q],
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) =>
      api.get(pagePath("/api/users", pageParam, new URLSearchParams(q ? { q } : {})), ownerPageSchema),
    getNextPageParam: (last) => last.next_cursor,
    placeholderData: (previous) => previous,
  });
}

export interface AuditFilter {
  owner: string;
  actor: string;
  token_id: string;
  /** One action ("rotate"), or "" for all. */
  action: string;
  /** RFC 3339 bounds: events at or after `since`, before `until`; "" for open. */
  since: string;
  until: string;
}

export const noAuditFilter: AuditFilter = { owner: "", actor: "", token_id: "", action: "", since: "", until: "" };

/** The filter as query parameters, empty ones left out. */
export function auditParams(filter: AuditFilter): URLSearchParams {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(filter) as [string, string][]) if (v.trim()) p.set(k, v.trim());
  return p;
}

export function useAudit(filter: AuditFilter) {
  const { api } = useAuth();
  return useInfiniteQuery({
    queryKey: ["audit", filter],
    initialPageParam: undefined as number | undefined,
    queryFn: ({ pageParam }) => {
      const p = auditParams(filter);
      p.set("limit", "50");
      if (pageParam !== undefined) p.set("before", String(pageParam));
      return api.get(`/api/audit?${p.toString()}`, auditPageSchema);
    },
    getNextPageParam: (last) => last.next_before,
  });
}


/**
 * Where one key lives: one of mine (`/api/me/tokens/{id}`), or, for an admin, anyone's
 * (`/api/tokens/{id}`, no owner needed).
 */
export type KeyScope = "me" | "any";
const keyPath = (s: KeyScope, id: string) => `${s === "me" ? "/api/me/tokens" : "/api/tokens"}/${seg(id)}`;

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

/** Figures lag by the server's flush interval: a minute's refresh is plenty. */
const USAGE_REFRESH_MS = 60_000;

/** A key's usage over a range ending now, by outcome. */
export function useKeyUsage(scope: KeyScope, id: string, range: RangePreset, enabled = true) {
  const { api } = useAuth();
  return useQuery({
    queryKey: ["usage", "key", scope, id, range],
    queryFn: () => api.get(`${keyPath(scope, id)}/usage?${rangeQuery(range)}`, usageSeriesSchema),
    enabled,
    refetchInterval: USAGE_REFRESH_MS,
    placeholderData: (previous) => previous,
  });
}

/**
 * An owner's keys together over the last 24 h, and per-key totals: one request per page
 * of the key list (the same `limit` and cursors, so the same keys).
 */
export function useOwnerUsagePages(scope: Scope, cursors: (string | undefined)[], limit = PAGE_SIZE) {
  const { api } = useAuth();
  const path = scope.kind === "me" ? "/api/me/usage" : `/api/users/${seg(scope.owner)}/usage`;
  return useQueries({
    queries: cursors.map((cursor) => ({
      queryKey: ["usage", "owner", scope.kind === "me" ? "me" : scope.owner, limit, cursor ?? ""],
      queryFn: () => api.get(pagePath(path, cursor, new URLSearchParams(rangeQuery("24h")), limit), ownerUsageSchema),
      refetchInterval: USAGE_REFRESH_MS,
    })),
  });
}

/** At most this many per-key series requests at once (the list's sparklines). */
export const SPARK_CONCURRENCY = 20;
let sparkRunning = 0;
const sparkWaiting: (() => void)[] = [];

/** `job`, once fewer than SPARK_CONCURRENCY others are running. */
export async function throttled<T>(job: () => Promise<T>): Promise<T> {
  // A finished job hands its place straight to the next one waiting.
  if (sparkRunning >= SPARK_CONCURRENCY) {
    await new Promise<void>((resolve) => {
      sparkWaiting.push(resolve);
    });
  } else {
    sparkRunning++;
  }
  try {
    return await job();
  } finally {
    const next = sparkWaiting.shift();
    if (next) next();
    else sparkRunning--;
  }
}

/** A key's last 24 h for its sparkline: only once `enabled` (the row is on screen), 20 at a time. */
export function useKeySparkline(scope: KeyScope, id: string, enabled: boolean) {
  const { api } = useAuth();
  return useQuery({
    queryKey: ["usage", "key", scope, id, "24h"],
    queryFn: () => throttled(() => api.get(`${keyPath(scope, id)}/usage?${rangeQuery("24h")}`, usageSeriesSchema)),
    enabled,
    refetchInterval: USAGE_REFRESH_MS,
  });
}

/** Admin: everyone's usage over a range, and the busiest keys and owners. */
export function useAllUsage(range: RangePreset, top = 10) {
  const { api } = useAuth();
  return useQuery({
    queryKey: ["usage", "all", range, top],
    queryFn: () => {
      const p = new URLSearchParams(rangeQuery(range));
      p.set("top", String(top));
      return api.get(`/api/usage?${p.toString()}`, allUsageSchema);
    },
    refetchInterval: USAGE_REFRESH_MS,
    placeholderData: (previous) => previous,
  });
}

/**
 * Admin: every audit event matching `filter` as a CSV or JSON file, saved by the
 * browser. The export needs the bearer credential, so it is fetched, not linked.
 */
export function useAuditExport() {
  const { config, session } = useAuth();
  return useMutation({
    mutationFn: async ({ filter, format }: { filter: AuditFilter; format: "csv" | "json" }) => {
      const p = auditParams(filter);
      p.set("format", format);
      const headers: Record<string, string> = {};
      if (session) headers.Authorization = `Bearer ${session.token}`;
      let res: Response;
      try {
        res = await fetch(`${config.base_path}/api/audit/export?${p.toString()}`, { headers, cache: "no-store" });
      } catch (e) {
        throw new Error(`Cannot reach keygate (${e instanceof Error ? e.message : String(e)}).`, { cause: e });
      }
      if (!res.ok) {
        const body = (await res.json().catch(() => null)) as { message?: unknown } | null;
        throw new Error(typeof body?.message === "string" ? body.message : `keygate answered ${res.status}.`);
      }
      const blob = await res.blob();
      const url = URL.createObjectURL(blob);
      const a = document.createElement("a");
      a.href = url;
      a.download = `keygate-audit.${format}`;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => {
        URL.revokeObjectURL(url);
      }, 10_000);
      return blob.size;
    },
  });
}
