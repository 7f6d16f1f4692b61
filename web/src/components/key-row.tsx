// One key in the list: a table row (a card on a narrow screen), at most two short lines
// a cell so that a screen holds a dozen keys or more: checkbox; name, and under it the
// hint, rotation partner and metadata; dates (relative, the day under them, the full
// date and time in their tooltip); usage; rules; limits; status; and one menu of
// actions. What does not fit a cell ends in "…" with the whole text in its tooltip,
// never broken mid-word. Both keys of a rotation usually carry the same name, so their
// accessible names say which is which.
import type { ReactNode } from "react";
import { Link } from "react-router-dom";
import { absolute, creditsLeft, expiresSoon, refillSummary, relative, rulesSummary } from "../lib/format";
import { type Rotation, rotationLabel, unusedDays } from "../lib/key-list-model";
import type { Limits, Token } from "../lib/schemas";
import { LimitsSummary } from "./limits-summary";
import { RefusedBadge, shownRefusal } from "./refused-now";
import { type RowMenuItem, RowMenu } from "./row-menu";
import { StatusBadge } from "./status-badge";

/** "Jun 1, 2026": the day, in the browser's locale and zone. */
function day(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleDateString(undefined, { dateStyle: "medium" });
}

/** The day a relative time means, under it; the full date and time in its tooltip. */
function Day({ iso }: { iso: string }) {
  return (
    <time className="date-abs" dateTime={iso} title={absolute(iso)}>
      {day(iso)}
    </time>
  );
}

/** A relative time with the day under it, visibly (not only in a tooltip). */
function When({ iso, now }: { iso: string; now: number }) {
  return (
    <>
      <span className="cell-line" title={absolute(iso)}>
        {relative(iso, now)}
      </span>
      <Day iso={iso} />
    </>
  );
}

/** The limits in words, whole: the cell shows two lines of them. */
function limitsText(l: Limits): string {
  const parts = l.rate_limits.map((r) => `${r.name}: ${r.limit} per ${r.window}`);
  if (l.credits) parts.push(creditsLeft(l.credits));
  if (l.credits?.refill) parts.push(refillSummary(l.credits.refill));
  return parts.length ? parts.join("; ") : "unlimited";
}

export interface KeyRowActions {
  onEdit: (t: Token) => void;
  onRotate: (t: Token) => void;
  onRevoke: (t: Token) => void;
  /** Disable or enable one key; without it the menu does not offer it. */
  onSetDisabled?: ((t: Token, disabled: boolean) => void) | undefined;
}

export function KeyRow({
  t,
  now,
  rotation,
  badgeDays,
  keyHref,
  activity,
  owner,
  selected,
  onSelect,
  actions,
}: {
  t: Token;
  now: number;
  rotation: Rotation;
  badgeDays: number;
  keyHref: ((t: Token) => string) | undefined;
  activity: ((t: Token) => ReactNode) | undefined;
  /** The owner's cell, after the name (a list of several owners' keys). */
  owner?: ((t: Token) => ReactNode) | undefined;
  selected: boolean | undefined;
  onSelect: ((ids: string[], on: boolean) => void) | undefined;
  actions: KeyRowActions;
}) {
  // Both keys of a rotation usually carry the same name: their accessible names say which is which.
  const role = rotationLabel(rotation, now);
  const named = role ? `${t.name} (${role})` : t.name;
  const idle = unusedDays(t, now);
  const meta = Object.entries(t.metadata);
  const other = rotation.role === "none" ? undefined : rotation.other;
  const rules = rulesSummary(t.rules);
  const items: RowMenuItem[] = [
    {
      label: "Edit",
      onSelect: () => {
        actions.onEdit(t);
      },
    },
    {
      label: "Rotate",
      onSelect: () => {
        actions.onRotate(t);
      },
      ...(t.status === "rotating" ? { disabled: true, title: "Being rotated: its replacement exists already" } : {}),
    },
    ...(actions.onSetDisabled
      ? [
          {
            label: t.disabled ? "Enable" : "Disable",
            onSelect: () => {
              actions.onSetDisabled?.(t, !t.disabled);
            },
          },
        ]
      : []),
    {
      label: "Revoke",
      danger: true,
      onSelect: () => {
        actions.onRevoke(t);
      },
    },
  ];
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
      <td data-label="Name" className="name-cell">
        {keyHref ? (
          <Link className="key-name" to={keyHref(t)} title={t.name} {...(role ? { "aria-label": named } : {})}>
            {t.name}
          </Link>
        ) : (
          <span className="key-name" title={t.name}>
            {t.name}
            {role && <span className="visually-hidden"> ({role})</span>}
          </span>
        )}
        <span className="key-sub" title={meta.map(([k, v]) => `${k}=${v}`).join("\n") || undefined}>
          <code className="hint-code">{t.hint}</code>
          {rotation.role !== "none" && (
            <span className="rotation-note">
              {" "}
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
          {meta.slice(0, 3).map(([k, v]) => (
            <span key={k} className="meta-chip">
              {k}={v}
            </span>
          ))}
          {meta.length > 3 && <span className="muted"> +{meta.length - 3}</span>}
        </span>
      </td>
      {owner && (
        // The whole name in the tooltip: a long one ends in "…" here (key-list.css).
        <td data-label="Owner" className="owner-col" title={t.owner}>
          {owner(t)}
        </td>
      )}
      <td data-label="Created" className="created-cell">
        <When iso={t.created_at} now={now} />
      </td>
      <td data-label="Expires" className="expires-cell">
        {rotation.role === "old" && t.grace_until ? (
          <>
            {/* "stops" is for screen readers: the column is narrow, the row says "replaced by". */}
            <span className="cell-line warn" title={`Stops ${absolute(t.grace_until)}`}>
              ⚠ <span className="visually-hidden">stops </span>
              {relative(t.grace_until, now)}
            </span>
            <Day iso={t.grace_until} />
          </>
        ) : t.expires_at ? (
          <>
            {expiresSoon(t.expires_at, now) ? (
              <span className="cell-line warn" title={`Expires ${absolute(t.expires_at)}`}>
                ⚠ {relative(t.expires_at, now)}
              </span>
            ) : (
              <span className="cell-line" title={`Expires ${absolute(t.expires_at)}`}>
                {relative(t.expires_at, now)}
              </span>
            )}
            <Day iso={t.expires_at} />
          </>
        ) : (
          <span className="muted">never</span>
        )}
      </td>
      <td data-label="Last used" className="used-cell">
        <span className="last-used">
          {t.last_used_at ? (
            <span className="cell-line" title={absolute(t.last_used_at)}>
              {relative(t.last_used_at, now)}
            </span>
          ) : (
            <span className="cell-line muted">never</span>
          )}
          {/* A stale key's badge takes the day's place: "unused 45 d" says more. */}
          {idle !== null && idle >= badgeDays ? (
            <span className="badge badge-unused" title={`No request for ${idle} days`}>
              unused {idle} d
            </span>
          ) : (
            t.last_used_at && <Day iso={t.last_used_at} />
          )}
        </span>
      </td>
      {activity && (
        <td data-label="Last 24 h" className="activity-cell">
          {activity(t)}
        </td>
      )}
      <td data-label="Rules" className="rules" title={rules}>
        {/* A rule a line, two at most: a host is never broken, a long one ends in "…". */}
        <span className="rule-lines">
          {t.rules.length === 0 ? (
            <span className="cell-line muted">anything</span>
          ) : (
            t.rules.slice(0, 2).map((r, i) => (
              <span key={i} className="cell-line">
                {i === 1 && t.rules.length > 2 ? `+${t.rules.length - 1} rules` : rulesSummary([r])}
              </span>
            ))
          )}
        </span>
      </td>
      <td data-label="Limits" className="limits-cell" title={limitsText(t.limits)}>
        <LimitsSummary limits={t.limits} />
      </td>
      <td data-label="Status" className={shownRefusal(t.refused_now) ? "status-cell is-refused" : "status-cell"}>
        <StatusBadge status={t.status} />
        {shownRefusal(t.refused_now) && <RefusedBadge refused={t.refused_now} />}
      </td>
      <td className="row-actions">
        <RowMenu label={`Actions for ${named}`} items={items} />
      </td>
    </tr>
  );
}
