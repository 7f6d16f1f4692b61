// A key's last requests (GET …/tokens/{id}/recent), for the key's page: what the gate
// decided, when, for which method, host and path. The server writes them every second,
// so the panel follows them closely while it is on screen.
import { useQuery } from "@tanstack/react-query";
import { useAuth } from "../auth";
import { recentPageSchema } from "../schemas";
import { type KeyScope, keyPath } from "./scope";

/** How many the panel asks for (the server keeps at most `kept` per key, 50 unless told). */
export const RECENT_LIMIT = 50;

/**
 * Read again this often. TanStack Query stops the interval while the tab is hidden
 * (`refetchIntervalInBackground` is off) and reads once more when it is shown again.
 */
export const RECENT_REFRESH_MS = 5_000;

/**
 * Under the key's own query key ("token", scope, id), so every change to the key reads
 * them again; `enabled: false` (the key is being deleted) asks no more: the next answer
 * would be a 404.
 */
export function useRecentRequests(scope: KeyScope, id: string, enabled = true) {
  const { api } = useAuth();
  return useQuery({
    queryKey: ["token", scope, id, "recent", RECENT_LIMIT],
    queryFn: () => api.get(`${keyPath(scope, id)}/recent?limit=${RECENT_LIMIT}`, recentPageSchema),
    enabled,
    // A refresh keeps the rows on screen until the new ones are here. (No placeholder
    // data: another key's page must never show this key's requests while it loads.)
    refetchInterval: RECENT_REFRESH_MS,
  });
}
