// Keys as a table (cards on a narrow screen), with sorting and filtering. Pure: it
// renders what it is given and reports what the user asks for.
import { type ReactNode, useMemo, useState } from "react";
import { Link } from "react-router-dom";
import { absolute, expiresSoon, relative, rulesSummary } from "../lib/format";
import type { Token, TokenStatus } from "../lib/schemas";
import { LimitsSummary } from "./limits-summary";
import { StatusBadge } from "./status-badge";

type SortKey = "name" | "created_at" | "expires_at" | "last_used_at" | "status";

export interface KeyTableProps {
  tokens: Token[];
  now: number;
  onEdit: (t: Token) => void;
  onRotate: (t: Token) => void;
  onRevoke: (t: Token) => void;
  /** Where each key's own page is: its name links there. */
  keyHref?: (t: Token) => string;
  /** A key's recent usage, shown in its own column when given. */
  activity?: (t: Token) => ReactNode;
}

const columns: { key: SortKey; label: string }[] = [
  { key: "name", label: "Name" },
  { key: "created_at", label: "Created" },
  { key: "expires_at", label: "Expires" },
  { key: "last_used_at", label: "Last used" },
];

function compare(a: Token, b: Token, key: SortKey): number {
  const av = a[key];
  const bv = b[key];
  // Missing dates sort last ("never expires", "never used").
  if (av === null && bv === null) return 0;
  if (av === null) return 1;
  if (bv === null) return -1;
  return av.localeCompare(bv, undefined, { sensitivity: "base" });
}

const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? "" : "s"}`;

export function KeyTable({ tokens, now, onEdit, onRotate, onRevoke, keyHref, activity }: KeyTableProps) {
  const [sort, setSort] = useState<{ key: SortKey; desc: boolean }>({ key: "created_at", desc: true });
  const [filter, setFilter] = useState("");
  const [status, setStatus] = useState<TokenStatus | "all">("all");

  const shown = useMemo(() => {
    const needle = filter.trim().toLowerCase();
    // The server lists oldest first: its order breaks ties (keys made in the same second).
    const order = new Map(tokens.map((t, i) => [t.id, i]));
    const list = tokens.filter(
      (t) =>
        (status === "all" || t.status === status) &&
        (!needle || [t.name, t.hint, t.id, rulesSummary(t.rules)].some((s) => s.toLowerCase().includes(needle))),
    );
    list.sort((a, b) => {
      const c = compare(a, b, sort.key) || (order.get(a.id) ?? 0) - (order.get(b.id) ?? 0);
      const nullLast = a[sort.key] === null || b[sort.key] === null;
      return sort.desc && !nullLast ? -c : c;
    });
    return list;
  }, [tokens, filter, status, sort]);

  const sortBy = (key: SortKey) => {
    setSort((s) => ({ key, desc: s.key === key ? !s.desc : key !== "name" }));
  };

  return (
    <div className="key-table">
      <div className="filters">
        <div className="field">
          <label htmlFor="key-filter">Filter</label>
          <input
            id="key-filter"
            type="search"
            value={filter}
            placeholder="Name, hint, id or rule"
            onChange={(e) => {
              setFilter(e.target.value);
            }}
          />
        </div>
        <div className="field">
          <label htmlFor="key-status">Status</label>
          <select
            id="key-status"
            value={status}
            onChange={(e) => {
              setStatus(e.target.value as TokenStatus | "all");
            }}
          >
            <option value="all">All</option>
            <option value="active">Active</option>
            <option value="disabled">Disabled</option>
            <option value="expired">Expired</option>
            <option value="rotating">Rotating</option>
          </select>
        </div>
        <div className="field">
          <label htmlFor="key-sort">Sort by</label>
          <select
            id="key-sort"
            value={`${sort.key}:${sort.desc ? "desc" : "asc"}`}
            onChange={(e) => {
              const [key, dir] = e.target.value.split(":");
              setSort({ key: key as SortKey, desc: dir === "desc" });
            }}
          >
            <option value="created_at:desc">Newest first</option>
            <option value="created_at:asc">Oldest first</option>
            <option value="name:asc">Name A–Z</option>
            <option value="expires_at:asc">Expiring soonest</option>
            <option value="last_used_at:desc">Recently used</option>
            <option value="status:asc">Status</option>
          </select>
        </div>
      </div>
      <p className="muted" role="status" aria-live="polite">
        {shown.length === tokens.length
          ? plural(tokens.length, "key")
          : `${shown.length} of ${plural(tokens.length, "key")}`}
      </p>
      {shown.length > 0 && (
        <table>
          <thead>
            <tr>
              {columns.map((c) => (
                <th
                  key={c.key}
                  scope="col"
                  aria-sort={sort.key === c.key ? (sort.desc ? "descending" : "ascending") : undefined}
                >
                  <button
                    type="button"
                    className="sort"
                    onClick={() => {
                      sortBy(c.key);
                    }}
                  >
                    {c.label}
                    <span aria-hidden="true">{sort.key === c.key ? (sort.desc ? " ↓" : " ↑") : ""}</span>
                  </button>
                </th>
              ))}
              {activity && <th scope="col">Last 24 h</th>}
              <th scope="col">Rules</th>
              <th scope="col">Limits</th>
              <th scope="col" aria-sort={sort.key === "status" ? (sort.desc ? "descending" : "ascending") : undefined}>
                <button
                  type="button"
                  className="sort"
                  onClick={() => {
                    sortBy("status");
                  }}
                >
                  Status
                </button>
              </th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {shown.map((t) => (
              <tr key={t.id} data-key-id={t.id}>
                <td data-label="Name">
                  {keyHref ? (
                    <Link className="key-name" to={keyHref(t)}>
                      {t.name}
                    </Link>
                  ) : (
                    <span className="key-name">{t.name}</span>
                  )}
                  <code className="hint-code">{t.hint}</code>
                </td>
                <td data-label="Created" title={absolute(t.created_at)}>
                  {relative(t.created_at, now)}
                </td>
                <td data-label="Expires" title={t.expires_at ? absolute(t.expires_at) : undefined}>
                  {t.status === "rotating" && t.grace_until ? (
                    <span className="warn" title={absolute(t.grace_until)}>
                      ⚠ replaced; stops {relative(t.grace_until, now)}
                    </span>
                  ) : t.expires_at ? (
                    expiresSoon(t.expires_at, now) ? (
                      <span className="warn">⚠ {relative(t.expires_at, now)}</span>
                    ) : (
                      relative(t.expires_at, now)
                    )
                  ) : (
                    <span className="muted">never</span>
                  )}
                </td>
                <td data-label="Last used" title={t.last_used_at ? absolute(t.last_used_at) : undefined}>
                  {t.last_used_at ? relative(t.last_used_at, now) : <span className="muted">never</span>}
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
                <td data-label="Status">
                  <StatusBadge status={t.status} />
                </td>
                <td className="row-actions">
                  <button
                    type="button"
                    className="button button-small"
                    onClick={() => {
                      onEdit(t);
                    }}
                    aria-label={`Edit ${t.name}`}
                  >
                    Edit
                  </button>
                  <button
                    type="button"
                    className="button button-small"
                    onClick={() => {
                      onRotate(t);
                    }}
                    aria-label={`Rotate ${t.name}`}
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
                    aria-label={`Revoke ${t.name}`}
                  >
                    Revoke
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
