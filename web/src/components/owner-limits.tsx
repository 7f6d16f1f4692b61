// The limits shared by all of an owner's keys. Admins see and change anyone's (PUT sets
// them, DELETE goes back to the configured default); everyone sees their own, read-only,
// when there are any. A key's page shows its owner's, compactly, and whether they are
// what refuses the key.
import { useId, useState, type SyntheticEvent } from "react";
import { Link } from "react-router-dom";
import { groupDigits } from "../lib/format";
import { type LimitsValues, limitsOf, limitsValuesOf, validateLimits } from "../lib/limits-model";
import { ownerHref } from "../lib/links";
import { useOwnerLimits, useResetOwnerLimits, useSetOwnerLimits } from "../lib/queries/limits";
import type { OwnerLimits, Token } from "../lib/schemas";
import { keepFocusOnClick } from "./field";
import { LimitsFields } from "./limits-fields";
import { LimitsSummary } from "./limits-summary";
import { messageOf } from "./state";

const sourceText = (o: OwnerLimits, self: boolean): string => {
  const whose = self ? "you" : o.owner;
  switch (o.source) {
    case "owner":
      return `Set for ${whose} by an administrator.`;
    case "default":
      return self
        ? "The default for everyone, from keygate’s configuration."
        : `The default for owners, from keygate’s configuration: ${o.owner} has no limits of their own.`;
    case "none":
      return `None: ${self ? "your" : `${o.owner}’s`} keys are limited only by their own limits.`;
  }
};

const sourceBadge: Record<OwnerLimits["source"], string> = { owner: "own limits", default: "default", none: "none" };

/** Admin: an owner's limits, with editing and a reset to the default. */
export function OwnerLimitsPanel({ owner }: { owner: string }) {
  const limits = useOwnerLimits({ kind: "owner", owner });
  const save = useSetOwnerLimits(owner);
  const reset = useResetOwnerLimits(owner);
  const [editing, setEditing] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const headingId = useId();

  return (
    <section className="panel owner-limits" aria-labelledby={headingId}>
      <div className="panel-head">
        <h2 id={headingId}>Limits shared by all of {owner}’s keys</h2>
        {limits.data && <span className={`badge badge-source-${limits.data.source}`}>{sourceBadge[limits.data.source]}</span>}
        {limits.data && !editing && (
          <div className="panel-actions">
            <button
              type="button"
              className="button button-small"
              onClick={() => {
                save.reset();
                reset.reset();
                setConfirming(false);
                setEditing(true);
              }}
            >
              Edit owner limits
            </button>
            {limits.data.source === "owner" && !confirming && (
              <button
                type="button"
                className="button button-small"
                onClick={() => {
                  reset.reset();
                  setConfirming(true);
                }}
              >
                Reset to the default
              </button>
            )}
          </div>
        )}
      </div>
      {limits.isPending && <p className="muted">Loading limits…</p>}
      {limits.isError && <p className="field-error">Could not load the limits: {messageOf(limits.error)}</p>}
      {limits.data && !editing && (
        <>
          <p className="owner-limits-summary">
            <LimitsSummary limits={limits.data.limits} />
          </p>
          <p className="hint">{sourceText(limits.data, false)}</p>
        </>
      )}
      {confirming && (
        <div className="notice notice-warn confirm-reset">
          <p>
            Drop {owner}’s own limits? The configured default for owners applies again (and its credit balance
            starts over).
          </p>
          {reset.error && (
            <p className="field-error" role="alert">
              {messageOf(reset.error)}
            </p>
          )}
          <div className="actions">
            <button
              type="button"
              className="button"
              onClick={() => {
                setConfirming(false);
              }}
            >
              Keep them
            </button>
            <button
              type="button"
              className="button button-danger"
              disabled={reset.isPending}
              onClick={() => {
                reset.mutate(undefined, {
                  onSuccess: () => {
                    setConfirming(false);
                  },
                });
              }}
            >
              {reset.isPending ? "Resetting…" : "Reset to the default"}
            </button>
          </div>
        </div>
      )}
      {limits.data && editing && (
        <OwnerLimitsForm
          owner={owner}
          initial={limitsValuesOf(limits.data.limits)}
          submitting={save.isPending}
          error={save.error}
          onSubmit={(v) => {
            save.mutate(limitsOf(v), {
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
    </section>
  );
}

function OwnerLimitsForm({
  owner,
  initial,
  submitting,
  error,
  onSubmit,
  onCancel,
}: {
  owner: string;
  initial: LimitsValues;
  submitting: boolean;
  error: Error | null;
  onSubmit: (v: LimitsValues) => void;
  onCancel: () => void;
}) {
  const [v, setV] = useState(initial);
  const [touched, setTouched] = useState<Set<string>>(new Set());
  const [submitted, setSubmitted] = useState(false);
  const id = useId();
  const errors = validateLimits(v);
  const count = Object.keys(errors).length;
  const submit = (e: SyntheticEvent) => {
    e.preventDefault();
    setSubmitted(true);
    if (count === 0) onSubmit(v);
  };
  return (
    <form
      className="owner-limits-form"
      noValidate
      onSubmit={submit}
      onMouseDown={keepFocusOnClick}
      aria-label={`Limits of ${owner}`}
    >
      {error && (
        <p className="notice notice-error" role="alert">
          {messageOf(error)}
        </p>
      )}
      {submitted && count > 0 && (
        <p className="notice notice-error" role="alert">
          {count === 1 ? "One field needs" : `${count} fields need`} attention.
        </p>
      )}
      <p className="hint">Saving makes these {owner}’s own limits, in place of any default.</p>
      <LimitsFields
        id={id}
        value={v}
        onChange={setV}
        errorOf={(f) => (submitted || touched.has(f) ? errors[f] : undefined)}
        onTouch={(f) => {
          setTouched((t) => new Set(t).add(f));
        }}
        balanceHint={
          initial.credits
            ? `Saving sets the shared balance to this number (it was ${groupDigits(Number(initial.remaining))} when you opened this form).`
            : "Saving sets the shared balance to this number."
        }
      />
      <div className="actions">
        <button type="button" className="button" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" className="button button-primary" disabled={submitting}>
          {submitting ? "Saving…" : "Save owner limits"}
        </button>
      </div>
    </form>
  );
}

/** The limits on all of my keys together, read-only; nothing when there are none (or on an older server). */
export function MyLimits() {
  const limits = useOwnerLimits({ kind: "me" });
  if (!limits.data || limits.data.source === "none") return null;
  return (
    <section className="panel owner-limits" aria-label="Limits on all your keys">
      <div className="panel-head">
        <h2>Limits on all your keys together</h2>
      </div>
      <p className="owner-limits-summary">
        <LimitsSummary limits={limits.data.limits} />
      </p>
      <p className="hint">{sourceText(limits.data, true)} Each key’s own limits apply as well.</p>
    </section>
  );
}

/**
 * A key's page: the limits all of its owner's keys share and where they stand (credits
 * left), read-only, with the way to the owner's page (admin) where they are changed.
 * The key's own limits can look fine while these refuse it: when they do (`refused_now`
 * with scope "owner"), it says so here, beside them.
 */
export function KeyOwnerLimits({ token: t, mine }: { token: Token; mine: boolean }) {
  const limits = useOwnerLimits(mine ? { kind: "me" } : { kind: "owner", owner: t.owner });
  const headingId = useId();
  const refusing = t.refused_now?.code === "usage_exceeded" && t.refused_now.scope === "owner";
  const whose = mine ? "your" : `${t.owner}’s`;
  return (
    <section className="panel key-owner-limits" aria-labelledby={headingId} data-testid="key-owner-limits">
      <div className="panel-head">
        <h2 id={headingId}>Limits shared by all of {whose} keys</h2>
        {limits.data && <span className={`badge badge-source-${limits.data.source}`}>{sourceBadge[limits.data.source]}</span>}
        {!mine && (
          <Link className="panel-actions" to={ownerHref(t.owner)}>
            {t.owner}’s keys and limits
          </Link>
        )}
      </div>
      {refusing && (
        <p className="owner-refusing">
          <strong>⚠ These shared credits are used up:</strong> they are what refuses this key now, and every other
          key of {whose}.
          {mine ? " An administrator can raise them, or they refill." : " Raise or refill them on the owner’s page."}
        </p>
      )}
      {limits.isPending && <p className="muted">Loading the shared limits…</p>}
      {limits.isError && <p className="field-error">Could not load the shared limits: {messageOf(limits.error)}</p>}
      {limits.data && (
        <>
          <p className="owner-limits-summary">
            <LimitsSummary limits={limits.data.limits} />
          </p>
          <p className="hint">
            {sourceText(limits.data, mine)}
            {limits.data.source !== "none" && " They apply on top of this key’s own limits."}
          </p>
        </>
      )}
    </section>
  );
}
