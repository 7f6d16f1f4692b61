// Admin: the roles granted to an owner (GET/PUT /api/users/{sub}/roles). Their keys hold
// these roles' permissions, unless a key is set not to inherit them.
import { useId, useState, type SyntheticEvent } from "react";
import { Link } from "react-router-dom";
import { ApiError } from "../lib/api";
import { useOwnerRoles, useRoles, useSetOwnerRoles } from "../lib/queries/roles";
import type { Role } from "../lib/schemas";
import { keepFocusOnClick } from "./field";
import { Chips, RoleOption } from "./permission-picker";
import { messageOf } from "./state";
import "./permissions.css";

export function OwnerRolesPanel({ owner }: { owner: string }) {
  const granted = useOwnerRoles(owner);
  const save = useSetOwnerRoles(owner);
  const [editing, setEditing] = useState(false);
  // Every role, to choose from: asked for once the form opens.
  const roles = useRoles(editing);
  const headingId = useId();
  // A server from before roles does not know the route: nothing to show.
  if (granted.error instanceof ApiError && granted.error.status === 404) return null;

  return (
    <section className="panel owner-roles" aria-labelledby={headingId}>
      <div className="panel-head">
        <h2 id={headingId}>Roles of {owner}</h2>
        {granted.data && !editing && (
          <div className="panel-actions">
            <button
              type="button"
              className="button button-small"
              onClick={() => {
                save.reset();
                setEditing(true);
              }}
            >
              Change roles
            </button>
          </div>
        )}
      </div>
      {granted.isPending && <p className="muted">Loading roles…</p>}
      {granted.isError && <p className="field-error">Could not load the roles: {messageOf(granted.error)}</p>}
      {granted.data && !editing && (
        <>
          <Chips values={granted.data.roles} label={`Roles of ${owner}`} />
          <p className="hint">
            {granted.data.roles.length === 0
              ? `None: ${owner}’s keys hold only the permissions attached to them.`
              : `${owner}’s keys hold these roles’ permissions, unless a key is set not to inherit them; ${owner} may attach them, and what they cover, to their own keys.`}
          </p>
        </>
      )}
      {granted.data && editing && (
        <>
          {roles.isPending && <p className="muted">Loading roles…</p>}
          {roles.isError && <p className="field-error">Could not load the roles: {messageOf(roles.error)}</p>}
          {roles.data && (
            <OwnerRolesForm
              owner={owner}
              roles={roles.data.roles}
              initial={granted.data.roles}
              submitting={save.isPending}
              error={save.error}
              onSubmit={(chosen) => {
                save.mutate(chosen, {
                  onSuccess: () => {
                    setEditing(false);
                  },
                });
              }}
              onCancel={() => {
                setEditing(false);
              }}
            />
          )}
        </>
      )}
    </section>
  );
}

function OwnerRolesForm({
  owner,
  roles,
  initial,
  submitting,
  error,
  onSubmit,
  onCancel,
}: {
  owner: string;
  roles: Role[];
  initial: string[];
  submitting: boolean;
  error: Error | null;
  onSubmit: (roles: string[]) => void;
  onCancel: () => void;
}) {
  const [chosen, setChosen] = useState(initial);
  const id = useId();
  // A granted role that is no longer listed (deleted meanwhile) stays, to be unticked.
  const gone = initial.filter((r) => !roles.some((x) => x.name === r));
  const submit = (e: SyntheticEvent) => {
    e.preventDefault();
    onSubmit(chosen);
  };
  const toggle = (name: string) => (on: boolean) => {
    setChosen(on ? [...chosen, name] : chosen.filter((x) => x !== name));
  };
  return (
    <form className="owner-roles-form" noValidate onSubmit={submit} onMouseDown={keepFocusOnClick} aria-label={`Roles of ${owner}`}>
      {error && (
        <p className="notice notice-error" role="alert">
          {messageOf(error)}
        </p>
      )}
      {roles.length === 0 && gone.length === 0 ? (
        <p className="hint">
          There are no roles yet. <Link to="/admin/roles">Make one on the Roles page</Link>.
        </p>
      ) : (
        <fieldset className="role-choice">
          <legend>Roles granted to {owner}</legend>
          <ul className="role-options">
            {roles.map((r) => (
              <RoleOption
                key={r.name}
                id={`${id}-${r.name}`}
                name={r.name}
                detail={r.description}
                permissions={r.permissions}
                checked={chosen.includes(r.name)}
                onChange={toggle(r.name)}
              />
            ))}
            {gone.map((name) => (
              <RoleOption
                key={name}
                id={`${id}-${name}`}
                name={name}
                detail="No longer listed among the roles."
                checked={chosen.includes(name)}
                onChange={toggle(name)}
              />
            ))}
          </ul>
        </fieldset>
      )}
      <div className="actions">
        <button type="button" className="button" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" className="button button-primary" disabled={submitting}>
          {submitting ? "Saving…" : "Save roles"}
        </button>
      </div>
    </form>
  );
}
