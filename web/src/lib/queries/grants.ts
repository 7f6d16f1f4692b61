// What the key form may offer for a scope's keys. My keys: GET /api/me/grants (an
// admin's says `any` and lists every role). An owner's keys (admin): every role, and the
// owner's own roles for "inherits the owner's roles (…)". Asked only while a form is open.
import type { Grantable } from "../permissions";
import { useMe } from "./me";
import { useMyGrants, useOwnerRoles, useRoles } from "./roles";
import type { OwnerScope } from "./scope";

export type GrantableState =
  | { status: "loading" }
  | { status: "error"; error: unknown }
  | { status: "ready"; grantable: Grantable };

export function useGrantable(scope: OwnerScope, enabled: boolean): GrantableState {
  const mine = scope.kind === "me";
  const me = useMe();
  const grants = useMyGrants(enabled && mine);
  // An admin's grants list every role, not their own: those are asked for by subject.
  const subject = me.data?.subject ?? "";
  const myRoles = useOwnerRoles(subject, enabled && mine && grants.data?.any === true);
  const owner = scope.kind === "owner" ? scope.owner : "";
  const roles = useRoles(enabled && !mine);
  const ownerRoles = useOwnerRoles(owner, enabled && !mine);

  if (mine) {
    if (grants.isError) return { status: "error", error: grants.error };
    if (!grants.data) return { status: "loading" };
    const g = grants.data;
    return {
      status: "ready",
      grantable: {
        any: g.any,
        roles: g.roles,
        permissions: g.permissions,
        self: true,
        owner: subject,
        ownerRoles: g.any ? (myRoles.data?.roles ?? null) : g.roles.map((r) => r.name),
      },
    };
  }
  if (roles.isError) return { status: "error", error: roles.error };
  if (!roles.data) return { status: "loading" };
  return {
    status: "ready",
    grantable: {
      any: true,
      roles: roles.data.roles,
      permissions: [],
      self: false,
      owner,
      ownerRoles: ownerRoles.data?.roles ?? null,
    },
  };
}
