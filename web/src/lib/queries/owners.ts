// Admin: the owners (subjects with keys), searched and paged.
import { useInfiniteQuery } from "@tanstack/react-query";
import { useAuth } from "../auth";
import { ownerPageSchema } from "../schemas";
import { pagePath } from "./scope";

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
