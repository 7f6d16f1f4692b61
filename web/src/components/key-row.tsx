// One key in the list: a table row (a card on a narrow screen) with its checkbox, name
// and hint, rotation partner, metadata, dates (relative, the full date under them),
// usage, rules, limits, status and actions. Both keys of a rotation usually carry the
// same name, so their accessible names say which is which.
import type { ReactNode } from "react";
import { Link } from "react-router-dom";
import { absolute, expiresSoon, relative, rulesSummary } from "../lib/format";
import { type Rotation, rotationLabel, unusedDays } from "../lib/key-list-model";
import type { Token } from "../lib/schemas";
import { LimitsSummary } from "./limits-summary";
import { RefusedBadge, shownRefusal } from "./refused-now";
import { StatusBadge } from "./status-badge";

/** A relative time with the full date under it, visibly (not only in a tooltip). */
function When({ iso, now }: { iso: string; now: number }) {
  return (
    <>
      <span className="nowrap">{relative(iso, now)}</span>
      <span className="date-abs">{absolute(iso)}</span>
    </>
  );
}

export function KeyRow({
  t,
  now,
  rotation,
  badgeDays,
  keyHref,
  activity,
  selected,
  onSelect,
  onEdit,
  onRotate,
  onRevoke,
}: {
  t: Token;
  now: number;
  rotation: Rotation;
  badgeDays: number;
  keyHref: ((t: Token) => string) | undefined;
  activity: ((t: Token) => ReactNode) | undefined;
  selected: boolean | undefined;
  onSelect: ((ids: string[], on: boolean) => void) | undefined;
  onEdit: (t: Token) => void;
  onRotate: (t: Token) => void;
  onRevoke: (t: Token) => void;
}) {
  // Both keys of a rotation usually carry the same name: their accessible names say which is which.
  const role = rotationLabel(rotation, now);
  const named = role ? `${t.name} (${role})` : t.name;
  const idle = unusedDays(t, now);
  const meta = Object.entries(t.metadata);
  const other = rotation.role === "none" ? undefined : rotation.other;
  return (
    <tr data-key-id={t.id} className={selected ? "selected" : undefined}>
      {selected !== undefined && (
        <td className="select-cell">
          <input
            type="checkbox"
            checked={selected}
            aria-label={`Select ${named}`}
            onChange={(e) => {
              onSelect?.([t.id], e.target.checked);
            }}
          />
        </td>
      )}
      <td data-label="Name">
        {keyHref ? (
          <Link className="key-name" to={keyHref(t)} {...(role ? { "aria-label": named } : {})}>
            {t.name}
          </Link>
        ) : (
          <span className="key-name">
            {t.name}
            {role && <span className="visually-hidden"> ({role})</span>}
          </span>
        )}
        <code className="hint-code">{t.hint}</code>
        {rotation.role !== "none" && (
          <span className="rotation-note">
            <span aria-hidden="true">{rotation.role === "old" ? "→ " : "← "}</span>
            {rotation.role === "old" ? "replaced by " : "replaces "}
            {other ? (
              keyHref ? (
                <Link
                  to={keyHref(other)}
                  aria-label={`${other.name} (${rotation.role === "old" ? "new" : "replaced"})`}
                >
                  {other.name}
                </Link>
              ) : (
                other.name
              )
            ) : (
              "a newer key"
            )}{" "}
            {other && <code className="hint-code">{other.hint}</code>}
          </span>
        )}
        {meta.length > 0 && (
          <span className="meta-line">
            {meta.slice(0, 3).map(([k, v]) => (
              <span key={k} className="meta-chip">
                {k}={v}
              </span>
            ))}
            {meta.length > 3 && <span className="muted"> +{meta.length - 3}</span>}
          </span>
        )}
      </td>
      <td data-label="Created" className="created-cell">
        <When iso={t.created_at} now={now} />
      </td>
      <td data-label="Expires">
        {rotation.role === "old" && t.grace_until ? (
          <>
            <span className="warn">⚠ stops {relative(t.grace_until, now)}</span>
            <span className="date-abs">{absolute(t.grace_until)}</span>
          </>
        ) : t.expires_at ? (
          <>
            {expiresSoon(t.expires_at, now) ? (
              <span className="warn">⚠ {relative(t.expires_at, now)}</span>
            ) : (
              <span className="nowrap">{relative(t.expires_at, now)}</span>
            )}
            <span className="date-abs">{absolute(t.expires_at)}</span>
          </>
        ) : (
          <span className="muted">never</span>
        )}
      </td>
      <td data-label="Last used">
        <span className="last-used">
          {t.last_used_at ? <When iso={t.last_used_at} now={now} /> : <span className="muted">never</span>}
          {idle !== null && idle >= badgeDays && (
            <span className="badge badge-unused" title={`No request for ${idle} days`}>
              unused {idle} d
            </span>
          )}
        </span>
      </td>
      {activity && (
        <td data-label="Last 24 h" className="activity-cell">
          {activity(t)}
        </td>
      )}
      <td data-label="Rules" className="rules">
        {rulesSummary(t.rules)}
      </td>
      <td data-label="Limits" className="limits-cell">
        <LimitsSummary limits={t.limits} />
      </td>
      <td data-label="Status" className={shownRefusal(t.refused_now) ? "status-cell is-refused" : "status-cell"}>
        <StatusBadge status={t.status} />
        {shownRefusal(t.refused_now) && <RefusedBadge refused={t.refused_now} />}
      </td>
      <td className="row-actions">
        <button
          type="button"
          className="button button-small"
          onClick={() => {
            onEdit(t);
          }}
          aria-label={`Edit ${named}`}
        >
          Edit
        </button>
        <button
          type="button"
          className="button button-small"
          onClick={() => {
            onRotate(t);
          }}
          aria-label={`Rotate ${named}`}
          disabled={t.status === "rotating"}
        >
          Rotate
        </button>
        <button
          type="button"
          className="button button-small button-danger"
          onClick={() => {
            onRevoke(t);
          }}
          aria-label={`Revoke ${named}`}
        >
          Revoke
        </button>
      </td>
    </tr>
  );
}
