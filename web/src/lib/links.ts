// Where things are in the app, for links.
import type { KeyScope } from "./queries/scope";

/** A key's page: mine at /keys/{id}, anyone's (admin) at /admin/keys/{id}. */
export const keyHref = (scope: KeyScope, id: string) =>
  scope === "me" ? `/keys/${encodeURIComponent(id)}` : `/admin/keys/${encodeURIComponent(id)}`;

/** An owner's keys (admin). */
export const ownerHref = (owner: string) => `/admin/owners/${encodeURIComponent(owner)}`;
