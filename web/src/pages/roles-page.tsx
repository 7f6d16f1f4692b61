// Admin: the roles, each a named set of permissions granted to owners (on an owner's
// page) or attached to keys (in the key form). Create, edit and delete them here; a role
// still held is deleted only when asked to take it from its holders first.
import { useState } from "react";
import { Link } from "react-router-dom";
import { Dialog } from "../components/dialog";
import { Chips } from "../components/permission-picker";
import { QueryView, fromQuery } from "../components/query-view";
import { RoleForm } from "../components/role-form";
import { messageOf } from "../components/state";
import { ApiError } from "../lib/api";
import { ownerHref } from "../lib/links";
import { holdersOf, holdersText } from "../lib/permissions";
import { type RoleBody, useCreateRole, useDeleteRole, useRoles, useUpdateRole } from "../lib/queries/roles";
import type { Role } from "../lib/schemas";
import "../components/permissions.css";

type Modal = { kind: "none" } | { kind: "create" } | { kind: "edit"; role: Role } | { kind: "delete"; role: Role };

const emptyRole: RoleBody = { name: "", description: "", permissions: [] };

export function RolesPage() {
  const roles = useRoles();
  const create = useCreateRole();
  const update = useUpdateRole();
  const remove = useDeleteRole();
  const [modal, setModal] = useState<Modal>({ kind: "none" });
  const [message, setMessage] = useState("");
  const open = (m: Modal) => {
    create.reset();
    update.reset();
    remove.reset();
    setModal(m);
  };
  const close = () => {
    setModal({ kind: "none" });
  };

  return (
    <section className="page roles-page">
      <nav className="breadcrumbs" aria-label="Breadcrumbs">
        <Link to="/admin/owners">Owners</Link> <span aria-hidden="true">›</span> <span>Roles</span>
      </nav>
      <div className="page-head">
        <h1>Roles</h1>
        <button
          type="button"
          className="button button-primary"
          onClick={() => {
            open({ kind: "create" });
          }}
        >
          New role
        </button>
      </div>
      <p className="hint">
        A role is a named set of permissions. Grant it to an owner on their keys page: their keys hold its permissions,
        and they may attach it to their own keys. Or attach it to a single key in the key form.
      </p>
      <p className="visually-hidden" role="status" aria-live="polite">
        {message}
      </p>
      <QueryView
        what="roles"
        {...fromQuery(roles)}
        data={roles.data?.roles}
        empty={<p className="empty">No roles yet. Make one with “New role”.</p>}
      >
        {(list) => (
          <RolesTable
            roles={list}
            onEdit={(role) => {
              open({ kind: "edit", role });
            }}
            onDelete={(role) => {
              open({ kind: "delete", role });
            }}
          />
        )}
      </QueryView>

      {modal.kind === "create" && (
        <Dialog title="New role" onClose={close} wide>
          <RoleForm
            mode="create"
            initial={emptyRole}
            submitting={create.isPending}
            serverError={create.error}
            onSubmit={(body) => {
              create.mutate(body, {
                onSuccess: (role) => {
                  setMessage(`Role ${role.name} created.`);
                  close();
                },
              });
            }}
            onCancel={close}
          />
        </Dialog>
      )}
      {modal.kind === "edit" && (
        <Dialog title={`Edit role ${modal.role.name}`} onClose={close} wide>
          <RoleForm
            mode="edit"
            initial={{ name: modal.role.name, description: modal.role.description, permissions: modal.role.permissions }}
            submitting={update.isPending}
            serverError={update.error}
            onSubmit={(body) => {
              update.mutate(
                { name: modal.role.name, body: { description: body.description, permissions: body.permissions } },
                {
                  onSuccess: (role) => {
                    setMessage(`Role ${role.name} saved.`);
                    close();
                  },
                },
              );
            }}
            onCancel={close}
          />
        </Dialog>
      )}
      {modal.kind === "delete" && (
        <Dialog title={`Delete role ${modal.role.name}?`} onClose={close}>
          <DeleteRole
            role={modal.role}
            busy={remove.isPending}
            error={remove.error}
            onDelete={(detach) => {
              remove.mutate(
                { name: modal.role.name, detach },
                {
                  onSuccess: () => {
                    setMessage(`Role ${modal.role.name} deleted.`);
                    close();
                  },
                },
              );
            }}
            onCancel={close}
          />
        </Dialog>
      )}
    </section>
  );
}

export function RolesTable({
  roles,
  onEdit,
  onDelete,
}: {
  roles: Role[];
  onEdit: (r: Role) => void;
  onDelete: (r: Role) => void;
}) {
  return (
    <table className="roles-table">
      <thead>
        <tr>
          <th scope="col">Name</th>
          <th scope="col">Description</th>
          <th scope="col">Permissions</th>
          <th scope="col">Granted to</th>
          <th scope="col">
            <span className="visually-hidden">Actions</span>
          </th>
        </tr>
      </thead>
      <tbody>
        {roles.map((r) => (
          <tr key={r.name}>
            <td data-label="Name" className="role-name">
              {r.name}
            </td>
            <td data-label="Description">{r.description || <span className="muted">none</span>}</td>
            <td data-label="Permissions" className="role-perms">
              <Chips values={r.permissions} empty="none" label={`Permissions of ${r.name}`} />
            </td>
            <td data-label="Granted to">
              {r.owners.length === 0 ? (
                <span className="muted">nobody</span>
              ) : (
                <ul className="owner-list" aria-label={`Owners granted ${r.name}`}>
                  {r.owners.map((o) => (
                    <li key={o}>
                      <Link to={ownerHref(o)}>{o}</Link>
                    </li>
                  ))}
                </ul>
              )}
            </td>
            <td className="row-actions">
              <button
                type="button"
                className="button button-small"
                aria-label={`Edit ${r.name}`}
                onClick={() => {
                  onEdit(r);
                }}
              >
                Edit
              </button>
              <button
                type="button"
                className="button button-small button-danger"
                aria-label={`Delete ${r.name}`}
                onClick={() => {
                  onDelete(r);
                }}
              >
                Delete
              </button>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** The confirmation; on 409 `role_in_use`, the offer to take the role from its holders first. */
export function DeleteRole({
  role,
  busy,
  error,
  onDelete,
  onCancel,
}: {
  role: Role;
  busy: boolean;
  error: Error | null;
  onDelete: (detach: boolean) => void;
  onCancel: () => void;
}) {
  const inUse = error instanceof ApiError && error.code === "role_in_use";
  const holders = inUse ? holdersText(holdersOf(error.message)) : null;
  const owners = role.owners.length;
  return (
    <div className="role-delete">
      {inUse ? (
        <div className="notice notice-warn role-in-use" role="alert">
          <p>{error.message}</p>
          <p>Taking it away removes its permissions from them at once.</p>
          <div className="actions">
            <button type="button" className="button" onClick={onCancel}>
              Keep the role
            </button>
            <button
              type="button"
              className="button button-danger"
              disabled={busy}
              onClick={() => {
                onDelete(true);
              }}
            >
              {busy
                ? "Deleting…"
                : `Remove it from ${holders ?? "every key and owner holding it"} and delete`}
            </button>
          </div>
        </div>
      ) : (
        <>
          {error && (
            <p className="notice notice-error" role="alert">
              {messageOf(error)}
            </p>
          )}
          <p>
            {owners === 0
              ? "No owner is granted this role."
              : `${owners === 1 ? "1 owner is" : `${owners} owners are`} granted this role.`}{" "}
            A role still held by keys or owners is not deleted unless you ask for it to be taken from them.
          </p>
          <div className="actions">
            <button type="button" className="button" data-autofocus="" onClick={onCancel}>
              Cancel
            </button>
            <button
              type="button"
              className="button button-danger"
              disabled={busy}
              onClick={() => {
                onDelete(false);
              }}
            >
              {busy ? "Deleting…" : "Delete role"}
            </button>
          </div>
        </>
      )}
    </div>
  );
}
