// The key form's "Permissions": roles to tick, permissions typed in as chips, and
// whether the key also holds its owner's roles. It offers what the caller may attach
// (GET /api/me/grants, or every role for an admin) and says why a typed permission may
// not be; what the key already has stays listed and removable even when it could not be
// added again. Pure: the form owns the values.
import { useId, useState, type KeyboardEvent } from "react";
import { type Grantable, whyNotGrantable } from "../lib/permissions";
import type { GrantableState } from "../lib/queries/grants";
import { messageOf } from "./state";
import "./permissions.css";

export interface PermissionValues {
  roles: string[];
  permissions: string[];
  inheritOwnerRoles: boolean;
}

export interface PermissionPickerProps {
  /** Prefix of the controls' ids. */
  id: string;
  state: GrantableState;
  value: PermissionValues;
  onChange: (v: PermissionValues) => void;
  /** What the key had when the form opened: kept, even where it could not be added now. */
  had: { roles: readonly string[]; permissions: readonly string[] };
  /** The permission being typed (useChipsDraft with grantCheck). */
  draft: ChipsDraft;
  rolesError?: string | undefined;
  permissionsError?: string | undefined;
}

/** Why a typed permission may not be attached to a key that had `had`, for useChipsDraft. */
export const grantCheck =
  (state: GrantableState, had: readonly string[]) =>
  (p: string): string | null =>
    state.status === "ready" ? whyNotGrantable(p, state.grantable, had) : "Wait until the roles you may attach are loaded.";

/** "Also holds my roles (a, b)" or "Inherits the owner’s roles (a)". */
function inheritLabel(g: Grantable | null): string {
  const list = g?.ownerRoles;
  const named = list == null ? "" : list.length ? ` (${list.join(", ")})` : " (none yet)";
  return g === null || g.self ? `Also holds my roles${named}` : `Inherits the owner’s roles${named}`;
}

export function PermissionPicker({ id, state, value: v, onChange, had, draft, rolesError, permissionsError }: PermissionPickerProps) {
  const g = state.status === "ready" ? state.grantable : null;
  const set = (patch: Partial<PermissionValues>) => {
    onChange({ ...v, ...patch });
  };
  const offered = g?.roles ?? [];
  // The roles to show: those on offer, then any the key holds that are not (kept, removable).
  const kept = v.roles.filter((r) => !offered.some((o) => o.name === r)).concat(
    had.roles.filter((r) => !v.roles.includes(r) && !offered.some((o) => o.name === r)),
  );
  const rolesHint = `${id}-roles-hint`;
  const mayType = g !== null && (g.any || g.permissions.length > 0);

  return (
    <fieldset className="group permissions" aria-describedby={`${id}-perm-intro`}>
      <legend>Permissions</legend>
      <p className="hint" id={`${id}-perm-intro`}>
        Routes that require permissions let the key through only when it holds them: its roles’ permissions, its own,
        and its owner’s roles’ when it inherits them.
      </p>
      {state.status === "loading" && (
        <p className="muted small" role="status">
          Loading what you may attach…
        </p>
      )}
      {state.status === "error" && (
        <p className="notice notice-error small" role="alert">
          Could not load the roles you may attach: {messageOf(state.error)}
        </p>
      )}

      <div className="checkbox inherit-roles">
        <input
          id={`${id}-inherit`}
          type="checkbox"
          checked={v.inheritOwnerRoles}
          aria-describedby={`${id}-inherit-hint`}
          onChange={(e) => {
            set({ inheritOwnerRoles: e.target.checked });
          }}
        />
        <label htmlFor={`${id}-inherit`}>{inheritLabel(g)}</label>
      </div>
      <p className="hint inherit-hint" id={`${id}-inherit-hint`}>
        {g && !g.self ? "A role granted to the owner later" : "A role granted to you later"} reaches this key at once;
        untick to hold only what is attached here.
      </p>

      <fieldset className="role-choice" aria-describedby={rolesError ? `${id}-roles-err` : rolesHint}>
        <legend>Roles</legend>
        {g && offered.length === 0 && kept.length === 0 && (
          <p className="hint" id={rolesHint}>
            {g.any ? "There are no roles yet: an administrator makes them on the Roles page." : "You have no roles to attach."}
          </p>
        )}
        {(offered.length > 0 || kept.length > 0) && (
          <p className="hint" id={rolesHint}>
            {g && !g.any ? "Only your own roles can be attached." : "Attach a role to hold all of its permissions."}
          </p>
        )}
        {rolesError && (
          <p className="field-error" id={`${id}-roles-err`}>
            {rolesError}
          </p>
        )}
        <ul className="role-options">
          {offered.map((r) => (
            <RoleOption
              key={r.name}
              id={`${id}-role-${r.name}`}
              name={r.name}
              detail={r.description}
              permissions={r.permissions}
              checked={v.roles.includes(r.name)}
              onChange={(on) => {
                set({ roles: on ? [...v.roles, r.name] : v.roles.filter((x) => x !== r.name) });
              }}
            />
          ))}
          {kept.map((name) => (
            <RoleOption
              key={name}
              id={`${id}-role-${name}`}
              name={name}
              detail={
                g && !g.any
                  ? "Not one of your roles: once removed, you cannot attach it again."
                  : "Held by this key."
              }
              checked={v.roles.includes(name)}
              onChange={(on) => {
                set({ roles: on ? [...v.roles, name] : v.roles.filter((x) => x !== name) });
              }}
            />
          ))}
        </ul>
      </fieldset>

      <PermissionChips
        id={`${id}-perms`}
        label="Permissions of this key"
        addLabel="Add a permission"
        values={v.permissions}
        onChange={(permissions) => {
          set({ permissions });
        }}
        state={draft}
        error={permissionsError}
        disabled={!mayType}
        hint={
          g === null
            ? undefined
            : g.any
              ? "For example docs.read, billing.* or repo:42.write. A “*” part stands for any one part; at the end, for one or more."
              : g.permissions.length
                ? `Anything your roles cover: ${g.permissions.join(", ")}.`
                : "Your roles grant no permissions, so you can attach none here; ask an administrator for a role."
        }
      />
    </fieldset>
  );
}

export function RoleOption({
  id,
  name,
  detail,
  permissions,
  checked,
  onChange,
}: {
  id: string;
  name: string;
  detail: string;
  permissions?: string[];
  checked: boolean;
  onChange: (on: boolean) => void;
}) {
  return (
    <li className="role-option">
      <input
        id={id}
        type="checkbox"
        checked={checked}
        aria-describedby={`${id}-detail`}
        onChange={(e) => {
          onChange(e.target.checked);
        }}
      />
      <div>
        <label htmlFor={id}>{name}</label>
        <div className="role-detail" id={`${id}-detail`}>
          {detail && <span className="muted small">{detail}</span>}
          {permissions && <Chips values={permissions} empty="no permissions" />}
        </div>
      </div>
    </li>
  );
}

/** Permissions shown as chips, read-only. */
export function Chips({ values, empty, label }: { values: readonly string[]; empty?: string; label?: string }) {
  if (values.length === 0) return empty ? <span className="muted small">{empty}</span> : null;
  return (
    <ul className="chips" aria-label={label}>
      {values.map((p) => (
        <li className="chip" key={p}>
          <code>{p}</code>
        </li>
      ))}
    </ul>
  );
}

/** The text typed into a PermissionChips input, and why it may not be added (if it was tried). */
export interface ChipsDraft {
  draft: string;
  setDraft: (s: string) => void;
  problem: string | null;
  /** Adds the draft when it may be added; says why not otherwise. */
  add: () => void;
  /**
   * For the form's submit: the values with the draft added (a name typed but not added
   * is surely meant), the values as they are when nothing is typed, or null (and the
   * reason shown) when the draft may not be added.
   */
  flush: () => string[] | null;
}

export function useChipsDraft(
  values: string[],
  onChange: (values: string[]) => void,
  check: (p: string) => string | null,
  max?: number,
): ChipsDraft {
  const [draft, setDraftState] = useState("");
  const [problem, setProblem] = useState<string | null>(null);
  const whyNot = (p: string) =>
    values.includes(p) && p !== ""
      ? `“${p}” is already in the list.`
      : max !== undefined && values.length >= max
        ? `At most ${max} permissions.`
        : check(p);
  const flush = (): string[] | null => {
    const p = draft.trim();
    if (p === "") return values;
    const why = whyNot(p);
    setProblem(why);
    if (why !== null) return null;
    setDraftState("");
    const next = [...values, p];
    onChange(next);
    return next;
  };
  return {
    draft,
    setDraft: (s) => {
      setDraftState(s);
      setProblem(null);
    },
    problem,
    add: () => {
      const why = whyNot(draft.trim());
      setProblem(why);
      if (why === null) {
        onChange([...values, draft.trim()]);
        setDraftState("");
      }
    },
    flush,
  };
}

/**
 * Permissions as removable chips and an input to add one (Enter or the button), its
 * text and checks in `state` (useChipsDraft); the chips already there are never checked
 * again.
 */
export function PermissionChips({
  id,
  label,
  addLabel,
  values,
  onChange,
  state,
  error,
  hint,
  disabled = false,
}: {
  id: string;
  label: string;
  addLabel: string;
  values: string[];
  onChange: (values: string[]) => void;
  state: ChipsDraft;
  /** A problem with the list as a whole (its size, or the server's refusal). */
  error?: string | undefined;
  hint?: string | undefined;
  disabled?: boolean;
}) {
  const { draft, setDraft, problem, add } = state;
  const listId = useId();
  const remove = (p: string) => {
    onChange(values.filter((x) => x !== p));
    document.getElementById(`${id}-input`)?.focus();
  };
  const shownError = problem ?? error;
  const describedBy = [shownError ? `${id}-err` : "", hint ? `${id}-hint` : ""].filter(Boolean).join(" ") || undefined;
  return (
    <div className={shownError ? "chips-field field-invalid" : "chips-field"}>
      <p className="chips-label" id={listId}>
        {label}
      </p>
      {values.length === 0 ? (
        <p className="muted small">None.</p>
      ) : (
        <ul className="chips" aria-labelledby={listId}>
          {values.map((p) => (
            <li className="chip chip-removable" key={p}>
              <code>{p}</code>
              <button
                type="button"
                className="chip-remove"
                aria-label={`Remove ${p}`}
                title={`Remove ${p}`}
                onClick={() => {
                  remove(p);
                }}
              >
                ×
              </button>
            </li>
          ))}
        </ul>
      )}
      <label htmlFor={`${id}-input`} className="chips-add-label">
        {addLabel}
      </label>
      <div className="chips-add">
        <input
          id={`${id}-input`}
          type="text"
          value={draft}
          disabled={disabled}
          autoComplete="off"
          spellCheck={false}
          placeholder="docs.read"
          aria-invalid={Boolean(shownError)}
          aria-describedby={describedBy}
          onChange={(e) => {
            setDraft(e.target.value);
          }}
          onKeyDown={(e: KeyboardEvent<HTMLInputElement>) => {
            // Enter adds the permission; it does not submit the form around it.
            if (e.key === "Enter") {
              e.preventDefault();
              add();
            }
          }}
        />
        <button type="button" className="button" disabled={disabled} onClick={add}>
          Add permission
        </button>
      </div>
      {hint && (
        <p className="hint" id={`${id}-hint`}>
          {hint}
        </p>
      )}
      {shownError && (
        <p className="field-error" id={`${id}-err`}>
          {shownError}
        </p>
      )}
    </div>
  );
}
