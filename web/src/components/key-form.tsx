// Create or edit a key: name, expiry, rules, permissions, metadata, limits (and, when
// editing, disabled).
// Problems show next to their field as soon as the field is left, and all of them on
// submit; nothing is sent while any remain.
import { useEffect, useId, useRef, useState, type SyntheticEvent } from "react";
import { ApiError } from "../lib/api";
import { useUnsavedGuard } from "../lib/auth";
import { absolute, expiryPresets, groupDigits, type ExpiryPreset } from "../lib/format";
import { type FormErrors, type KeyFormValues, LIMITS, emptyRule, validateKeyForm } from "../lib/key-form-model";
import { ExpiryField } from "./expiry-field";
import { Field, keepFocusOnClick } from "./field";
import { LimitsFields } from "./limits-fields";
import { MethodChoice } from "./method-choice";
import { PermissionPicker, grantCheck, useChipsDraft } from "./permission-picker";
import { PERMISSION_BOUNDS } from "../lib/permissions";
import type { GrantableState } from "../lib/queries/grants";

export interface KeyFormProps {
  mode: "create" | "edit";
  initial: KeyFormValues;
  /** The key's current expiry, when editing. */
  currentExpiry?: string | null;
  submitting: boolean;
  serverError: ApiError | Error | null;
  onSubmit: (values: KeyFormValues) => void;
  onCancel: () => void;
  /** False: this account may only keep or tighten limits (GET /api/me's may_raise_limits). */
  mayRaiseLimits?: boolean;
  /** What may be attached to the key (roles, permissions); absent: still loading. */
  grantable?: GrantableState;
  /** For tests: "now" in ms. */
  now?: number;
}

// Server field names → form fields.
const serverFields: Record<string, string> = {
  name: "name",
  expires_at: "customDate",
  roles: "roles",
  permissions: "permissions",
};

/** The top field a server's `field` names: "permissions" for "permissions", "permissions.2" or "permissions[2]". */
const topField = (field: string | undefined) => field?.split(/[.[]/)[0];

/** A refusal about the roles or permissions (400 `invalid` naming one of them). */
export const isGrantsError = (e: ApiError | Error | null): e is ApiError =>
  e instanceof ApiError && ["roles", "permissions", "inherit_owner_roles"].includes(topField(e.field) ?? "");

const LOADING: GrantableState = { status: "loading" };

/** A refusal about the limits: not allowed to raise them (403), or out of bounds (422). */
export const isLimitsError = (e: ApiError | Error | null): e is ApiError =>
  e instanceof ApiError && (e.code === "limits_locked" || (e.field?.startsWith("limits") ?? false));

export function KeyForm({
  mode,
  initial,
  currentExpiry,
  submitting,
  serverError,
  onSubmit,
  onCancel,
  mayRaiseLimits = true,
  grantable = LOADING,
  now,
}: KeyFormProps) {
  const [v, setV] = useState<KeyFormValues>(initial);
  const [touched, setTouched] = useState<Set<string>>(new Set());
  const [submitted, setSubmitted] = useState(false);
  const permDraft = useChipsDraft(
    v.permissions,
    (permissions) => {
      setV((old) => ({ ...old, permissions }));
    },
    grantCheck(grantable, initial.permissions),
    PERMISSION_BOUNDS.keyPermissions,
  );
  const errors: FormErrors = validateKeyForm(v, now);
  // Input not sent yet: an ending session must not wipe it unannounced.
  useUnsavedGuard(JSON.stringify(v) !== JSON.stringify(initial));
  const id = useId();
  const touch = (f: string) => () => {
    setTouched((t) => new Set(t).add(f));
  };
  const shown = (f: string): string | undefined => {
    if (submitted || touched.has(f)) return errors[f];
    return undefined;
  };
  const serverField =
    serverError && "field" in serverError && serverError.field
      ? (serverFields[serverError.field] ?? serverFields[topField(serverError.field) ?? ""])
      : undefined;

  const formRef = useRef<HTMLFormElement>(null);
  // A button that adds fields takes the keyboard to the first of them; one that removes
  // fields, to the button that adds them again (the removed ones had the focus).
  const focusNext = useRef<string | null>(null);
  const setFocusId = (target: string) => {
    focusNext.current = target;
  };
  useEffect(() => {
    if (focusNext.current === null) return;
    document.getElementById(focusNext.current)?.focus();
    focusNext.current = null;
  });
  const [attempts, setAttempts] = useState(0);
  // After a refused submit, take the keyboard to the first field that needs attention.
  useEffect(() => {
    if (attempts > 0) formRef.current?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus();
  }, [attempts]);
  const submit = (e: SyntheticEvent) => {
    e.preventDefault();
    setSubmitted(true);
    // A permission typed but not added yet is meant to be on the key.
    const permissions = permDraft.flush();
    if (permissions === null) {
      setAttempts((n) => n + 1);
      return;
    }
    if (Object.keys(errors).length === 0) onSubmit({ ...v, permissions });
    else setAttempts((n) => n + 1);
  };
  const set = <K extends keyof KeyFormValues>(k: K, value: KeyFormValues[K]) => {
    setV((old) => ({ ...old, [k]: value }));
  };
  const presets = expiryPresets.filter((p) => p.value !== "keep");
  const options: { value: ExpiryPreset; label: string }[] =
    mode === "edit" && currentExpiry
      ? [{ value: "keep", label: `Keep: ${absolute(currentExpiry)}` }, ...presets]
      : presets;
  const count = Object.keys(errors).length;

  return (
    <form ref={formRef} className="key-form" noValidate onSubmit={submit} onMouseDown={keepFocusOnClick}>
      {serverError && (
        <div className="notice notice-error" role="alert">
          {isLimitsError(serverError)
            ? "keygate refused the limits: see “Limits” below."
            : isGrantsError(serverError)
              ? "keygate refused the roles or permissions: see “Permissions” below."
              : serverError.message}
        </div>
      )}
      {submitted && count > 0 && (
        <p className="notice notice-error" role="alert">
          {count === 1 ? "One field needs" : `${count} fields need`} attention.
        </p>
      )}

      <Field id={`${id}-name`} label="Name" error={shown("name") ?? (serverField === "name" ? serverError?.message : undefined)}>
        {(p) => (
          <input
            {...p}
            type="text"
            value={v.name}
            maxLength={LIMITS.name + 20}
            placeholder="e.g. CI deploys"
            autoComplete="off"
            data-autofocus=""
            onChange={(e) => {
              set("name", e.target.value);
            }}
            onBlur={touch("name")}
          />
        )}
      </Field>

      <ExpiryField
        id={id}
        label="Expires"
        value={v.expiry}
        options={options}
        onChange={(expiry) => {
          set("expiry", expiry);
        }}
        date={v.customDate}
        onDate={(date) => {
          set("customDate", date);
        }}
        onDateBlur={touch("customDate")}
        dateError={shown("customDate") ?? (serverField === "customDate" ? serverError?.message : undefined)}
        now={now}
      />

      <fieldset className="group">
        <legend>Rules</legend>
        <p className="hint">
          Without rules the key may reach anything. With rules, a request must match at least one; within a rule, every
          field you fill in must match. Separate hosts and paths with commas.
        </p>
        {v.rules.map((r, i) => (
          <fieldset className="rule" key={i} aria-describedby={shown(`rules.${i}`) ? `${id}-rule-${i}-err` : undefined}>
            <legend>Rule {i + 1}</legend>
            {shown(`rules.${i}`) && (
              <p className="field-error" id={`${id}-rule-${i}-err`}>
                {shown(`rules.${i}`)}
              </p>
            )}
            {(
              [
                ["hosts", "Hosts", "api.example.com, *.example.com"],
                ["paths", "Paths", "/v1/*, /health"],
              ] as const
            ).map(([f, label, placeholder]) => (
              <Field key={f} id={`${id}-rule-${i}-${f}`} label={label} error={shown(`rules.${i}.${f}`)}>
                {(p) => (
                  <input
                    {...p}
                    type="text"
                    value={r[f]}
                    placeholder={placeholder}
                    autoComplete="off"
                    spellCheck={false}
                    onChange={(e) => {
                      const rules = v.rules.map((x, j) => (j === i ? { ...x, [f]: e.target.value } : x));
                      set("rules", rules);
                    }}
                    onBlur={() => {
                      touch(`rules.${i}.${f}`)();
                      touch(`rules.${i}`)();
                    }}
                  />
                )}
              </Field>
            ))}
            <MethodChoice
              id={`${id}-rule-${i}-methods`}
              chosen={r.methods}
              error={errors[`rules.${i}.methods`]}
              onChange={(methods) => {
                touch(`rules.${i}`)();
                set(
                  "rules",
                  v.rules.map((x, j) => (j === i ? { ...x, methods } : x)),
                );
              }}
            />
            <button
              type="button"
              className="button button-quiet"
              onClick={() => {
                set(
                  "rules",
                  v.rules.filter((_, j) => j !== i),
                );
                setFocusId(`${id}-add-rule`);
              }}
            >
              Remove rule {i + 1}
            </button>
          </fieldset>
        ))}
        {errors.rules && <p className="field-error">{errors.rules}</p>}
        <button
          type="button"
          id={`${id}-add-rule`}
          className="button"
          onClick={() => {
            set("rules", [...v.rules, emptyRule()]);
            setFocusId(`${id}-rule-${v.rules.length}-hosts`);
          }}
        >
          Add a rule
        </button>
      </fieldset>

      <PermissionPicker
        id={`${id}-grants`}
        state={grantable}
        value={{ roles: v.roles, permissions: v.permissions, inheritOwnerRoles: v.inheritOwnerRoles }}
        onChange={(p) => {
          setV((old) => ({ ...old, ...p }));
        }}
        had={initial}
        draft={permDraft}
        rolesError={errors.roles ?? (serverField === "roles" ? serverError?.message : undefined)}
        permissionsError={errors.permissions ?? (serverField === "permissions" ? serverError?.message : undefined)}
      />

      <fieldset className="group">
        <legend>Metadata</legend>
        <p className="hint">Optional notes kept with the key, such as a ticket or a team.</p>
        {v.metadata.map((m, i) => (
          <div className="field-row meta-row" key={i}>
            <Field id={`${id}-meta-${i}-key`} label={`Name ${i + 1}`} error={shown(`metadata.${i}.key`)}>
              {(p) => (
                <input
                  {...p}
                  type="text"
                  value={m.key}
                  placeholder="team"
                  autoComplete="off"
                  onChange={(e) => {
                    set(
                      "metadata",
                      v.metadata.map((x, j) => (j === i ? { ...x, key: e.target.value } : x)),
                    );
                  }}
                  onBlur={touch(`metadata.${i}.key`)}
                />
              )}
            </Field>
            <Field id={`${id}-meta-${i}-value`} label={`Value ${i + 1}`} error={shown(`metadata.${i}.value`)}>
              {(p) => (
                <input
                  {...p}
                  type="text"
                  value={m.value}
                  placeholder="platform"
                  autoComplete="off"
                  onChange={(e) => {
                    set(
                      "metadata",
                      v.metadata.map((x, j) => (j === i ? { ...x, value: e.target.value } : x)),
                    );
                  }}
                  onBlur={touch(`metadata.${i}.value`)}
                />
              )}
            </Field>
            <button
              type="button"
              className="button button-quiet"
              aria-label={`Remove metadata ${i + 1}`}
              onClick={() => {
                set(
                  "metadata",
                  v.metadata.filter((_, j) => j !== i),
                );
                setFocusId(`${id}-add-meta`);
              }}
            >
              Remove
            </button>
          </div>
        ))}
        {errors.metadata && <p className="field-error">{errors.metadata}</p>}
        <button
          type="button"
          id={`${id}-add-meta`}
          className="button"
          onClick={() => {
            set("metadata", [...v.metadata, { key: "", value: "" }]);
            setFocusId(`${id}-meta-${v.metadata.length}-key`);
          }}
        >
          Add metadata
        </button>
      </fieldset>

      <fieldset className="group limits" aria-describedby={mayRaiseLimits ? undefined : `${id}-locked`}>
        <legend>Limits</legend>
        {!mayRaiseLimits && (
          <p className="notice notice-warn small" id={`${id}-locked`}>
            You can only tighten limits; ask an administrator to raise them.
          </p>
        )}
        {isLimitsError(serverError) && (
          <p className="notice notice-error small" role="alert">
            {serverError.message}
          </p>
        )}
        {mode === "create" && (
          <div className="choice" role="radiogroup" aria-label="Limits for this key">
            {(
              [
                [false, "The defaults for new keys", "whatever the administrator configured; maybe none"],
                [true, "Set limits for this key", "rate limits and credits of its own"],
              ] as const
            ).map(([value, label, detail]) => (
              <div className="radio" key={label}>
                <input
                  id={`${id}-limits-${String(value)}`}
                  type="radio"
                  name={`${id}-limits`}
                  checked={v.setLimits === value}
                  onChange={() => {
                    set("setLimits", value);
                  }}
                />
                <label htmlFor={`${id}-limits-${String(value)}`}>
                  {label} <span className="muted">({detail})</span>
                </label>
              </div>
            ))}
          </div>
        )}
        {(mode === "edit" || v.setLimits) && (
          <>
            <p className="hint">
              Without rate limits or credits the key itself is unlimited; its owner’s limits, if any, still apply.
            </p>
            <LimitsFields
              id={`${id}-limits`}
              value={v.limits}
              onChange={(limits) => {
                set("limits", limits);
              }}
              errorOf={(f) => shown(`limits.${f}`)}
              onTouch={(f) => {
                touch(`limits.${f}`)();
              }}
              balanceHint={
                mode === "edit" && initial.limits.credits
                  ? `The balance was ${groupDigits(Number(initial.limits.remaining))} when you opened this form. Leave it as it is to keep the live balance; change it to set a new one.`
                  : undefined
              }
            />
          </>
        )}
      </fieldset>

      {mode === "edit" && (
        <div className="checkbox">
          <input
            id={`${id}-disabled`}
            type="checkbox"
            checked={v.disabled}
            onChange={(e) => {
              set("disabled", e.target.checked);
            }}
          />
          <label htmlFor={`${id}-disabled`}>Disabled: refuse this key until it is enabled again</label>
        </div>
      )}

      <div className="actions">
        <button type="button" className="button" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" className="button button-primary" disabled={submitting}>
          {submitting ? "Saving…" : mode === "create" ? "Create key" : "Save changes"}
        </button>
      </div>
    </form>
  );
}
