// Create or edit a webhook endpoint: its URL, a description, the event types it gets
// (every one, or those ticked, by family: a family's "every … event" takes the types
// added to it later too) and the owners whose keys' events it gets. Mistakes show next
// to their field once it was left or the form sent; so do the server's refusals (422
// naming a field, e.g. a URL pointing at a private address).
import { useEffect, useId, useRef, useState, type SyntheticEvent } from "react";
import { ApiError } from "../lib/api";
import { useUnsavedGuard } from "../lib/auth";
import type { EventType } from "../lib/schemas";
import {
  type WebhookErrors,
  type WebhookField,
  type WebhookFormValues,
  eventFamilies,
  familyOf,
  validateWebhook,
  webhookFieldOf,
} from "../lib/webhooks";
import { Field, keepFocusOnClick } from "./field";
import { messageOf } from "./state";
import "./webhooks.css";

export interface WebhookFormProps {
  mode: "create" | "edit";
  initial: WebhookFormValues;
  /** The event types to offer; undefined while they load. */
  types: EventType[] | undefined;
  /** Why the types could not be read, if they could not. */
  typesError?: unknown;
  submitting: boolean;
  serverError: Error | null;
  onSubmit: (v: WebhookFormValues) => void;
  onCancel: () => void;
}

export function WebhookForm({ mode, initial, types, typesError, submitting, serverError, onSubmit, onCancel }: WebhookFormProps) {
  const [v, setV] = useState(initial);
  const [touched, setTouched] = useState<Set<WebhookField>>(new Set());
  const [submitted, setSubmitted] = useState(false);
  const id = useId();
  const formRef = useRef<HTMLFormElement>(null);
  useUnsavedGuard(JSON.stringify(v) !== JSON.stringify(initial));
  const errors: WebhookErrors = validateWebhook(v);
  const count = Object.keys(errors).length;
  const serverField = serverError instanceof ApiError ? webhookFieldOf(serverError.field) : null;
  const shown = (f: WebhookField): string | undefined =>
    (submitted || touched.has(f) ? errors[f] : undefined) ?? (serverField === f ? serverError?.message : undefined);
  // A refusal naming a field takes the keyboard there, where its message is read.
  useEffect(() => {
    if (serverField) formRef.current?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus();
  }, [serverError, serverField]);
  const touch = (f: WebhookField) => () => {
    setTouched((t) => new Set(t).add(f));
  };
  const submit = (e: SyntheticEvent) => {
    e.preventDefault();
    setSubmitted(true);
    if (count === 0) onSubmit(v);
    else formRef.current?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus();
  };

  return (
    <form ref={formRef} className="webhook-form" noValidate onSubmit={submit} onMouseDown={keepFocusOnClick}>
      {serverError && (
        <p className="notice notice-error" role="alert">
          {serverField ? "keygate refused the endpoint: see below." : messageOf(serverError)}
        </p>
      )}
      {submitted && count > 0 && (
        <p className="notice notice-error" role="alert">
          {count === 1 ? "One field needs" : `${count} fields need`} attention.
        </p>
      )}
      <Field
        id={`${id}-url`}
        label="URL"
        hint="Where keygate POSTs the events, signed (Standard Webhooks). http or https; loopback and private addresses are refused unless keygate allows them."
        error={shown("url")}
      >
        {(p) => (
          <input
            {...p}
            type="url"
            inputMode="url"
            value={v.url}
            placeholder="https://hooks.example.com/keygate"
            autoComplete="off"
            spellCheck={false}
            data-autofocus=""
            onChange={(e) => {
              setV({ ...v, url: e.target.value });
            }}
            onBlur={touch("url")}
          />
        )}
      </Field>
      <Field id={`${id}-description`} label="Description" hint="Optional: what receives these events, who looks after it." error={shown("description")}>
        {(p) => (
          <textarea
            {...p}
            value={v.description}
            rows={2}
            onChange={(e) => {
              setV({ ...v, description: e.target.value });
            }}
            onBlur={touch("description")}
          />
        )}
      </Field>
      <EventTypesChoice
        id={`${id}-events`}
        values={v}
        types={types}
        typesError={typesError}
        error={shown("event_types")}
        onChange={(allEvents, eventTypes) => {
          setV({ ...v, allEvents, eventTypes });
          if (!allEvents) touch("event_types")();
        }}
      />
      <Field
        id={`${id}-owners`}
        label="Owners"
        hint="Only events about these owners’ keys: one subject per line, or separated by commas. Empty: every owner’s (and events about no owner)."
        error={shown("owners")}
      >
        {(p) => (
          <textarea
            {...p}
            value={v.owners}
            rows={2}
            spellCheck={false}
            placeholder={"alice@example.com\nbob@example.com"}
            onChange={(e) => {
              setV({ ...v, owners: e.target.value });
            }}
            onBlur={touch("owners")}
          />
        )}
      </Field>
      <div className="actions">
        <button type="button" className="button" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" className="button button-primary" disabled={submitting}>
          {submitting ? "Saving…" : mode === "create" ? "Create endpoint" : "Save endpoint"}
        </button>
      </div>
    </form>
  );
}

/**
 * Every event, or the types ticked: one group per family, with "every … event" (the
 * family, `key.*`: types added later too) when it has more than one type or is chosen.
 */
function EventTypesChoice({
  id,
  values,
  types,
  typesError,
  error,
  onChange,
}: {
  id: string;
  values: WebhookFormValues;
  types: EventType[] | undefined;
  typesError: unknown;
  error: string | undefined;
  onChange: (allEvents: boolean, eventTypes: string[]) => void;
}) {
  const chosen = values.eventTypes;
  const families = eventFamilies(types ?? []);
  // A stored filter keygate no longer lists stays, to be unticked.
  const known = (f: string) =>
    families.some((g) => `${g.family}.*` === f || g.types.some((t) => t.type === f));
  const unknown = chosen.filter((f) => !known(f));
  const set = (f: string, on: boolean) => {
    onChange(false, on ? [...chosen.filter((x) => x !== f), f] : chosen.filter((x) => x !== f));
  };
  const describedBy = [error ? `${id}-err` : "", `${id}-hint`].filter(Boolean).join(" ");
  return (
    <fieldset className={error ? "event-choice field-invalid" : "event-choice"} aria-describedby={describedBy}>
      <legend>Events</legend>
      <p className="hint" id={`${id}-hint`}>
        The “Send test event” button reaches the endpoint whatever it subscribes to.
      </p>
      <div className="choice" role="radiogroup" aria-label="Which events">
        {(
          [
            [true, "Every event type", "also those added later"],
            [false, "Only the types ticked below", "by family or one by one"],
          ] as const
        ).map(([all, label, detail]) => (
          <div className="radio" key={label}>
            <input
              id={`${id}-all-${String(all)}`}
              type="radio"
              name={`${id}-all`}
              checked={values.allEvents === all}
              onChange={() => {
                onChange(all, chosen);
              }}
            />
            <label htmlFor={`${id}-all-${String(all)}`}>
              {label} <span className="muted">({detail})</span>
            </label>
          </div>
        ))}
      </div>
      {!values.allEvents && (
        <div className="event-families">
          {types === undefined &&
            (typesError ? (
              <p className="field-error">Could not load the event types: {messageOf(typesError)}</p>
            ) : (
              <p className="muted">Loading the event types…</p>
            ))}
          {families.map((g) => {
            const wildcard = `${g.family}.*`;
            const all = chosen.includes(wildcard);
            const offerAll = g.types.length > 1 || all;
            return (
              <fieldset className="event-family" key={g.family}>
                <legend>
                  <code>{g.family}</code> events
                </legend>
                <ul className="event-options">
                  {offerAll && (
                    <EventOption
                      id={`${id}-${wildcard}`}
                      label={`Every ${g.family} event`}
                      code={wildcard}
                      detail="Also the types added to this family later."
                      checked={all}
                      onChange={(on) => {
                        // The family takes the place of its types ticked one by one.
                        const rest = chosen.filter((x) => x !== wildcard && familyOf(x) !== g.family);
                        onChange(false, on ? [...rest, wildcard] : rest);
                      }}
                    />
                  )}
                  {g.types.map((t) => (
                    <EventOption
                      key={t.type}
                      id={`${id}-${t.type}`}
                      label={t.type}
                      detail={t.description}
                      checked={all || chosen.includes(t.type)}
                      disabled={all}
                      onChange={(on) => {
                        set(t.type, on);
                      }}
                    />
                  ))}
                </ul>
              </fieldset>
            );
          })}
          {unknown.length > 0 && (
            <fieldset className="event-family">
              <legend>Not listed by keygate</legend>
              <ul className="event-options">
                {unknown.map((f) => (
                  <EventOption
                    key={f}
                    id={`${id}-${f}`}
                    label={f}
                    detail="keygate does not list this type (any more)."
                    checked
                    onChange={(on) => {
                      set(f, on);
                    }}
                  />
                ))}
              </ul>
            </fieldset>
          )}
        </div>
      )}
      {error && (
        <p className="field-error" id={`${id}-err`}>
          {error}
        </p>
      )}
    </fieldset>
  );
}

function EventOption({
  id,
  label,
  code,
  detail,
  checked,
  disabled = false,
  onChange,
}: {
  id: string;
  label: string;
  /** Shown after the label (the family's filter, `key.*`). */
  code?: string;
  detail: string;
  checked: boolean;
  disabled?: boolean;
  onChange: (on: boolean) => void;
}) {
  return (
    <li className="event-option">
      <input
        id={id}
        type="checkbox"
        checked={checked}
        disabled={disabled}
        aria-describedby={`${id}-detail`}
        onChange={(e) => {
          onChange(e.target.checked);
        }}
      />
      <div>
        <label htmlFor={id}>
          {code ? (
            <>
              {label} <code>({code})</code>
            </>
          ) : (
            <code>{label}</code>
          )}
        </label>
        <span className="muted small event-detail" id={`${id}-detail`}>
          {detail}
        </span>
      </div>
    </li>
  );
}
