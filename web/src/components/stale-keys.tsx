// Admin overview: keys of every owner that nobody used for N days (or, never used, made
// N days ago), so they can be cleaned up. keygate finds them (`q=unused:30d`, by its own
// clock) and sends one page of them, with how many there are in all; the rest are a
// link away, in the console's Keys, where they can be disabled or revoked together. The
// view is pure; the container below asks for the page.
import { useState } from "react";
import { Link } from "react-router-dom";
import { absolute, relative } from "../lib/format";
import { UNUSED_CHOICES, pageOf, unusedDays } from "../lib/key-list-model";
import { keyHref, ownerHref } from "../lib/links";
import { useTokenPage } from "../lib/queries/keys";
import type { Token } from "../lib/schemas";
import { allKeysHref } from "./header-search";
import { Pager } from "./pager";
import { QueryView, fromQuery } from "./query-view";
import { RefusedBadge, shownRefusal } from "./refused-now";
import { StatusBadge } from "./status-badge";
import "./console.css";
import "./key-list.css";

export const STALE_DEFAULT_DAYS = 30;
/** Stale keys asked for at once: the overview shows these, the Keys page all of them. */
export const STALE_LIMIT = 100;
const STALE_ROWS = 20;

/** The server's search for keys unused for `days` days. */
export const staleQuery = (days: number) => `unused:${days}d`;

/**
 * The keys keygate found stale, longest idle first (ties: by owner, then name), with
 * their idle days by the browser's clock (for the badge: keygate's decided which).
 */
export function staleKeys(tokens: Token[], now: number): { token: Token; idle: number }[] {
  return tokens
    .map((token) => ({ token, idle: unusedDays(token, now) ?? 0 }))
    .sort(
      (a, b) =>
        b.idle - a.idle || a.token.owner.localeCompare(b.token.owner) || a.token.name.localeCompare(b.token.name),
    );
}

const keys = (n: number) => (n === 1 ? "1 key" : `${n} keys`);

/** "12 stale keys", as exactly as the answer allows. */
export function staleCount(shown: number, total: number | undefined, more: boolean, days: number): string {
  const n = total ?? shown;
  if (n === 0) return `No key unused for ${days} days or more.`;
  const count = total === undefined && more ? `At least ${keys(n)}` : keys(n);
  const first = n > shown ? ` The ${shown} shown are the first keygate found.` : "";
  return `${count} unused for ${days} days or more.${first}`;
}

export function StaleKeysView({
  tokens,
  total,
  more = false,
  now,
  days,
  onDays,
  page,
  onPage,
}: {
  /** One page of what keygate found. */
  tokens: Token[];
  /** How many it found in all, when it says. */
  total?: number | undefined;
  /** It found more than this page. */
  more?: boolean;
  now: number;
  days: number;
  onDays: (days: number) => void;
  page: number;
  onPage: (page: number) => void;
}) {
  const stale = staleKeys(tokens, now);
  const paged = pageOf(stale, page, STALE_ROWS);
  const n = total ?? tokens.length;
  return (
    <>
      <p className="muted small">
        Keys nobody used for a while (a key never used counts from when it was made). An owner&apos;s link opens
        their keys with the same filter, to disable or revoke them together.
      </p>
      <div className="filters">
        <div className="field">
          <label htmlFor="stale-days">Unused for</label>
          <select
            id="stale-days"
            value={days}
            onChange={(e) => {
              onDays(Number(e.target.value));
            }}
          >
            {UNUSED_CHOICES.map((d) => (
              <option key={d} value={d}>
                {d}+ days
              </option>
            ))}
          </select>
        </div>
      </div>
      <div className="stale-summary">
        <p className="muted" role="status" aria-live="polite">
          {staleCount(tokens.length, total, more, days)}
        </p>
        {n > 0 && (
          // Everyone's keys with the same search: all of them, to select and disable or revoke.
          <Link to={allKeysHref(staleQuery(days))}>
            {total !== undefined || !more ? `Show all ${n} in Keys` : "Show them all in Keys"}
          </Link>
        )}
      </div>
      {paged.rows.length > 0 && (
        <table className="stale-table">
          <thead>
            <tr>
              <th scope="col">Key</th>
              <th scope="col">Owner</th>
              <th scope="col">Last used</th>
              <th scope="col">Created</th>
              <th scope="col">Status</th>
            </tr>
          </thead>
          <tbody>
            {paged.rows.map(({ token: t, idle }) => (
              <tr key={t.id}>
                <td data-label="Key">
                  <Link to={keyHref("any", t.id)}>{t.name}</Link> <code className="hint-code">{t.hint}</code>
                </td>
                <td data-label="Owner">
                  {/* The owner's list, filtered the same way: there they can be disabled or revoked together. */}
                  <Link to={`${ownerHref(t.owner)}?unused=${days}`}>{t.owner}</Link>
                </td>
                <td data-label="Last used">
                  <span className="last-used">
                    {t.last_used_at ? (
                      <>
                        <span className="nowrap">{relative(t.last_used_at, now)}</span>
                        <span className="date-abs">{absolute(t.last_used_at)}</span>
                      </>
                    ) : (
                      <span className="muted">never</span>
                    )}
                    <span className="badge badge-unused">unused {idle} d</span>
                  </span>
                </td>
                <td data-label="Created">
                  <span className="nowrap">{relative(t.created_at, now)}</span>
                  <span className="date-abs">{absolute(t.created_at)}</span>
                </td>
                <td data-label="Status">
                  <StatusBadge status={t.status} />
                  {shownRefusal(t.refused_now) && <RefusedBadge refused={t.refused_now} />}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <Pager page={paged.page} pages={paged.pages} onPage={onPage} label="Pages of stale keys" />
    </>
  );
}

/** The overview's "Stale keys" section: one page of what keygate finds stale. */
export function StaleKeys() {
  const [days, setDays] = useState(STALE_DEFAULT_DAYS);
  const found = useTokenPage(staleQuery(days), STALE_LIMIT);
  // The page is asked again every 30 s: its answer's time is "now" (never earlier than the page opened).
  const [opened] = useState(() => Date.now());
  const [page, setPage] = useState(1);
  return (
    <section className="stale-keys" aria-labelledby="stale-keys">
      <h2 id="stale-keys">Stale keys</h2>
      <QueryView what="keys" {...fromQuery(found)}>
        {(data) => (
          <StaleKeysView
            tokens={data.tokens}
            total={data.total}
            more={data.next_cursor !== undefined}
            now={Math.max(opened, found.dataUpdatedAt)}
            days={days}
            onDays={(d) => {
              setDays(d);
              setPage(1);
            }}
            page={page}
            onPage={setPage}
          />
        )}
      </QueryView>
    </section>
  );
}
