// Roles (admin): the list, create, edit, delete; the roles granted to an owner; and what
// the caller may attach to their own keys. A change to a role or a grant changes what
// keys hold, so every key's effective permissions ("token" queries) are read again.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { seg } from "../api";
import { useAuth } from "../auth";
import { grantsSchema, ownerRolesSchema, roleListSchema, roleSchema } from "../schemas";

export interface RoleBody {
  name: string;
  description: string;
  permissions: string[];
}

export type RolePatch = Partial<Omit<RoleBody, "name">>;

/** Admin: every role, sorted by name. `enabled: false` until it is needed. */
export function useRoles(enabled = true) {
  const { api } = useAuth();
  return useQuery({
    queryKey: ["roles"],
    queryFn: () => api.get("/api/roles", roleListSchema),
    enabled,
  });
}

/** After any change to roles: the roles, the grants, and what keys hold. */
function useRefresh() {
  const qc = useQueryClient();
  return () =>
    Promise.all([
      qc.invalidateQueries({ queryKey: ["roles"] }),
      qc.invalidateQueries({ queryKey: ["owner-roles"] }),
      qc.invalidateQueries({ queryKey: ["grants"] }),
      qc.invalidateQueries({ queryKey: ["token"] }),
      qc.invalidateQueries({ queryKey: ["tokens"] }),
      qc.invalidateQueries({ queryKey: ["audit"] }),
    ]);
}

export function useCreateRole() {
  const { api } = useAuth();
  const refresh = useRefresh();
  return useMutation({
    mutationFn: (body: RoleBody) => api.send("POST", "/api/roles", body, roleSchema),
    onSuccess: refresh,
  });
}

export function useUpdateRole() {
  const { api } = useAuth();
  const refresh = useRefresh();
  return useMutation({
    mutationFn: ({ name, body }: { name: string; body: RolePatch }) =>
      api.send("PATCH", `/api/roles/${seg(name)}`, body, roleSchema),
    onSuccess: refresh,
  });
}

/** `detach`: take the role from every key and owner holding it first (else a 409 `role_in_use`). */
export function useDeleteRole() {
  const { api } = useAuth();
  const refresh = useRefresh();
  return useMutation({
    mutationFn: ({ name, detach }: { name: string; detach: boolean }) =>
      api.sendEmpty("DELETE", `/api/roles/${seg(name)}${detach ? "?detach=true" : ""}`),
    onSuccess: refresh,
  });
}

/** Admin: the roles granted to an owner. */
export function useOwnerRoles(owner: string, enabled = true) {
  const { api } = useAuth();
  return useQuery({
    queryKey: ["owner-roles", owner],
    queryFn: () => api.get(`/api/users/${seg(owner)}/roles`, ownerRolesSchema),
    enabled: enabled && owner !== "",
  });
}

/** Admin: grant an owner exactly these roles (PUT replaces them). */
export function useSetOwnerRoles(owner: string) {
  const { api } = useAuth();
  const qc = useQueryClient();
  const refresh = useRefresh();
  return useMutation({
    mutationFn: (roles: string[]) => api.send("PUT", `/api/users/${seg(owner)}/roles`, { roles }, ownerRolesSchema),
    onSuccess: (answer) => {
      qc.setQueryData(["owner-roles", owner], answer);
      return refresh();
    },
  });
}

/** What I may attach to my own keys. */
export function useMyGrants(enabled = true) {
  const { api, session } = useAuth();
  return useQuery({
    queryKey: ["grants", session?.token],
    queryFn: () => api.get("/api/me/grants", grantsSchema),
    enabled: enabled && session !== null,
  });
}
