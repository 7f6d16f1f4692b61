// Create or edit a role: its name (on create only: a role is renamed by making another),
// a description, and its permissions as chips. Mistakes show next to their field, the
// server's refusals (400 `invalid` naming a field, 409 for a taken name) too.
import { useId, useRef, useState, type SyntheticEvent } from "react";
import { ApiError } from "../lib/api";
import { useUnsavedGuard } from "../lib/auth";
import { PERMISSION_BOUNDS, permissionError, roleNameError } from "../lib/permissions";
import type { RoleBody } from "../lib/queries/roles";
import { Field, keepFocusOnClick } from "./field";
import { PermissionChips, useChipsDraft } from "./permission-picker";
import "./permissions.css";

export interface RoleFormProps {
  mode: "create" | "edit";
  initial: RoleBody;
  submitting: boolean;
  serverError: Error | null;
  onSubmit: (body: RoleBody) => void;
  onCancel: () => void;
}

type RoleErrors = Partial<Record<keyof RoleBody, string>>;

export function validateRole(v: RoleBody): RoleErrors {
  const errors: RoleErrors = {};
  const name = roleNameError(v.name.trim());
  if (name) errors.name = name;
  if (Array.from(v.description).length > PERMISSION_BOUNDS.description) {
    errors.description = `At most ${PERMISSION_BOUNDS.description} characters.`;
  }
  if (v.permissions.length > PERMISSION_BOUNDS.rolePermissions) {
    errors.permissions = `At most ${PERMISSION_BOUNDS.rolePermissions} permissions.`;
  }
  return errors;
}

/** The form field a server's refusal is about, if it names one. */
function serverFieldOf(e: Error | null): keyof RoleBody | null {
  if (!(e instanceof ApiError)) return null;
  if (e.code === "conflict") return "name";
  const top = e.field?.split(/[.[]/)[0];
  return top === "name" || top === "description" || top === "permissions" ? top : null;
}

export function RoleForm({ mode, initial, submitting, serverError, onSubmit, onCancel }: RoleFormProps) {
  const [v, setV] = useState(initial);
  const [touched, setTouched] = useState<Set<string>>(new Set());
  const [submitted, setSubmitted] = useState(false);
  const id = useId();
  const formRef = useRef<HTMLFormElement>(null);
  useUnsavedGuard(JSON.stringify(v) !== JSON.stringify(initial));
  const draft = useChipsDraft(
    v.permissions,
    (permissions) => {
      setV((old) => ({ ...old, permissions }));
    },
    permissionError,
    PERMISSION_BOUNDS.rolePermissions,
  );
  const errors = validateRole(v);
  const count = Object.keys(errors).length;
  const serverField = serverFieldOf(serverError);
  const shown = (f: keyof RoleBody): string | undefined =>
    (submitted || touched.has(f) ? errors[f] : undefined) ?? (serverField === f ? serverError?.message : undefined);
  const submit = (e: SyntheticEvent) => {
    e.preventDefault();
    setSubmitted(true);
    // A permission typed but not added yet is meant to be in the role.
    const permissions = draft.flush();
    if (permissions === null) {
      document.getElementById(`${id}-perms-input`)?.focus();
      return;
    }
    if (count === 0) onSubmit({ ...v, name: v.name.trim(), permissions });
    else formRef.current?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus();
  };
  const touch = (f: string) => () => {
    setTouched((t) => new Set(t).add(f));
  };

  return (
    <form ref={formRef} className="role-form" noValidate onSubmit={submit} onMouseDown={keepFocusOnClick}>
      {serverError && (
        <p className="notice notice-error" role="alert">
          {serverField ? "keygate refused the role: see below." : serverError.message}
        </p>
      )}
      {submitted && count > 0 && (
        <p className="notice notice-error" role="alert">
          {count === 1 ? "One field needs" : `${count} fields need`} attention.
        </p>
      )}
      {mode === "create" && (
        <Field
          id={`${id}-name`}
          label="Name"
          hint="Letters, digits, “_”, “.”, “:” and “-”, starting with a letter or digit; it cannot be changed later."
          error={shown("name")}
        >
          {(p) => (
            <input
              {...p}
              type="text"
              value={v.name}
              maxLength={PERMISSION_BOUNDS.roleName + 10}
              placeholder="e.g. docs-reader"
              autoComplete="off"
              spellCheck={false}
              data-autofocus=""
              onChange={(e) => {
                setV({ ...v, name: e.target.value });
              }}
              onBlur={touch("name")}
            />
          )}
        </Field>
      )}
      <Field id={`${id}-description`} label="Description" hint="Optional: who it is for, what it lets them do." error={shown("description")}>
        {(p) => (
          <textarea
            {...p}
            value={v.description}
            rows={2}
            {...(mode === "edit" ? { "data-autofocus": "" } : {})}
            onChange={(e) => {
              setV({ ...v, description: e.target.value });
            }}
            onBlur={touch("description")}
          />
        )}
      </Field>
      <PermissionChips
        id={`${id}-perms`}
        label="Permissions of this role"
        addLabel="Add a permission"
        values={v.permissions}
        onChange={(permissions) => {
          setV({ ...v, permissions });
        }}
        state={draft}
        error={shown("permissions")}
        hint="For example docs.read, billing.* or repo:42.write. A “*” part stands for any one part; at the end, for one or more."
      />
      <div className="actions">
        <button type="button" className="button" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" className="button button-primary" disabled={submitting}>
          {submitting ? "Saving…" : mode === "create" ? "Create role" : "Save role"}
        </button>
      </div>
    </form>
  );
}
