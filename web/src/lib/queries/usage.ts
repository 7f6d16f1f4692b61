// Usage: a key's over a range, and everyone's (admin). The key lists carry each key's
// last 24 hours themselves (`activity`): the list's figures and sparklines ask nothing.
import { useQuery } from "@tanstack/react-query";
import { useAuth } from "../auth";
import { allUsageSchema, usageSeriesSchema } from "../schemas";
import { type RangePreset, rangeQuery } from "../usage";
import { type KeyScope, keyPath } from "./scope";

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
