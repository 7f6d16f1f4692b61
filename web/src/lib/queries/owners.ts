// Admin: the owners (subjects with keys), searched, sorted and paged, each with their
// keys' last 24 hours together (`activity`).
import { useInfiniteQuery } from "@tanstack/react-query";
import { useAuth } from "../auth";
import { ownerPageSchema } from "../schemas";
import { pagePath } from "./scope";

/**
 * How the server orders the owners: by name (A to Z), or by their keys' requests or
 * refusals over the last 24 hours (most first). It sorts, so that a page of 100 is the
 * busiest 100 of all of them, not the busiest of the first 100 by name.
 */
export type OwnerSort = "name" | "requests" | "refusals";
export const ownerSorts: readonly OwnerSort[] = ["name", "requests", "refusals"];

/** The activity changes as keygate writes its counts: every page read so far is read again each minute. */
const OWNERS_REFRESH_MS = 60_000;

export function useOwners(q: string, sort: OwnerSort = "name") {
  const { api } = useAuth();
  return useInfiniteQuery({
    queryKey: ["owners", q, sort],
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) => {
      const p = new URLSearchParams(q ? { q } : {});
      // "name" is the server's default: not said, so older servers answer too.
      if (sort !== "name") p.set("sort", sort);
      return api.get(pagePath("/api/users", pageParam, p), ownerPageSchema);
    },
    getNextPageParam: (last) => last.next_cursor,
    refetchInterval: OWNERS_REFRESH_MS,
    placeholderData: (previous) => previous,
  });
}
