// Who is logged in (GET /api/me).
import { useQuery } from "@tanstack/react-query";
import { useAuth } from "../auth";
import { meSchema } from "../schemas";

export function useMe() {
  const { api, session } = useAuth();
  return useQuery({
    queryKey: ["me", session?.token],
    queryFn: () => api.get("/api/me", meSchema),
    enabled: session !== null,
    staleTime: 60_000,
  });
}
