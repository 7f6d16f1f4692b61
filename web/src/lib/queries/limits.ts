// The limits shared by all of an owner's keys: read (mine, or an admin's view of
// anyone's), set and reset (admin).
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { seg } from "../api";
import { useAuth } from "../auth";
import { type Limits, ownerLimitsSchema } from "../schemas";
import type { OwnerScope } from "./scope";

const limitsPath = (s: OwnerScope) => (s.kind === "me" ? "/api/me/limits" : `/api/users/${seg(s.owner)}/limits`);
const limitsKey = (s: OwnerScope) => ["limits", s.kind === "me" ? "me" : s.owner] as const;

/**
 * The limits shared by all of an owner's keys (mine, or, for an admin, anyone's); with
 * `enabled` false (the owner is not known yet), not asked for.
 */
export function useOwnerLimits(scope: OwnerScope, enabled = true) {
  const { api } = useAuth();
  return useQuery({
    queryKey: limitsKey(scope),
    queryFn: () => api.get(limitsPath(scope), ownerLimitsSchema),
    enabled,
  });
}

/** Admin: set an owner's limits (PUT replaces them all). */
export function useSetOwnerLimits(owner: string) {
  const { api } = useAuth();
  const qc = useQueryClient();
  const scope: OwnerScope = { kind: "owner", owner };
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
  const scope: OwnerScope = { kind: "owner", owner };
  return useMutation({
    mutationFn: () => api.sendEmpty("DELETE", limitsPath(scope)),
    onSuccess: () =>
      Promise.all([qc.invalidateQueries({ queryKey: limitsKey(scope) }), qc.invalidateQueries({ queryKey: ["audit"] })]),
  });
}
