// Usage: a key's over a range, an owner's keys' last 24 h (page by page, as the list),
// a key's sparkline (throttled), and everyone's (admin).
import { useQueries, useQuery } from "@tanstack/react-query";
import { seg } from "../api";
import { useAuth } from "../auth";
import { allUsageSchema, ownerUsageSchema, usageSeriesSchema } from "../schemas";
import { type RangePreset, rangeQuery } from "../usage";
import { type KeyScope, PAGE_SIZE, type Scope, keyPath, pagePath } from "./scope";

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
 * of the key list (the same `limit` and cursors, so the same keys). Everyone's keys have
 * no such per-key pages (GET /api/usage answers totals and the busiest): none is asked.
 */
export function useOwnerUsagePages(scope: Scope, cursors: (string | undefined)[], limit = PAGE_SIZE) {
  const { api } = useAuth();
  const owner = scope.kind === "all" ? null : scope.kind === "me" ? "me" : scope.owner;
  const path = scope.kind === "owner" ? `/api/users/${seg(scope.owner)}/usage` : "/api/me/usage";
  return useQueries({
    queries: (owner === null ? [] : cursors).map((cursor) => ({
      queryKey: ["usage", "owner", owner, limit, cursor ?? ""],
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
