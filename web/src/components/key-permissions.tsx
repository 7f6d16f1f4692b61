// A key's effective permissions and where each comes from (GET …/tokens/{id}/permissions):
// attached to the key, one of its roles, or one of its owner's roles that it inherits.
import { useId } from "react";
import { ApiError } from "../lib/api";
import { sourceLabel } from "../lib/permissions";
import { useKeyPermissions } from "../lib/queries/keys";
import type { KeyScope } from "../lib/queries/scope";
import type { KeyPermissions, Token } from "../lib/schemas";
import { QueryView, fromQuery } from "./query-view";
import "./permissions.css";

export function KeyPermissionsPanel({ scope, token, enabled = true }: { scope: KeyScope; token: Token; enabled?: boolean }) {
  const permissions = useKeyPermissions(scope, token.id, enabled);
  const headingId = useId();
  // A server from before permissions does not know the route: nothing to show.
  if (permissions.error instanceof ApiError && permissions.error.status === 404) return null;
  return (
    <section className="panel key-permissions" aria-labelledby={headingId}>
      <div className="panel-head">
        <h2 id={headingId}>Permissions</h2>
      </div>
      <p className="hint">{attachedText(token)}</p>
      <QueryView what="the permissions" {...fromQuery(permissions)}>
        {(data) => <KeyPermissionsTable data={data} />}
      </QueryView>
    </section>
  );
}

/** "Roles reader, ops; 2 permissions of its own; inherits its owner’s roles." */
function attachedText(t: Token): string {
  const roles = t.roles.length ? `Roles ${t.roles.join(", ")}` : "No roles";
  const own =
    t.permissions.length === 0
      ? "no permissions of its own"
      : t.permissions.length === 1
        ? "1 permission of its own"
        : `${t.permissions.length} permissions of its own`;
  const inherit = t.inherit_owner_roles ? "inherits its owner’s roles" : "does not inherit its owner’s roles";
  return `${roles}; ${own}; ${inherit}.`;
}

export function KeyPermissionsTable({ data }: { data: KeyPermissions }) {
  if (data.permissions.length === 0) {
    return (
      <div className="empty">
        <p>
          <strong>This key holds no permissions.</strong>
        </p>
        <p className="muted small">Routes that require permissions will refuse it; routes that require none let it through.</p>
      </div>
    );
  }
  return (
    <table className="permissions-table">
      <caption className="visually-hidden">The key’s permissions and where they come from</caption>
      <thead>
        <tr>
          <th scope="col">Permission</th>
          <th scope="col">From</th>
        </tr>
      </thead>
      <tbody>
        {data.permissions.map((p) => (
          <tr key={p.permission}>
            <td data-label="Permission">
              <code>{p.permission}</code>
            </td>
            <td data-label="From">
              <ul className="source-list">
                {p.sources.map((s) => (
                  <li key={s} data-source={s}>
                    {sourceLabel(s).text}
                  </li>
                ))}
              </ul>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
