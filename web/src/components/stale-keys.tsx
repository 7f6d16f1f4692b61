// Admin overview: keys of every owner that nobody used for N days (or, never used, made
// N days ago), longest idle first, so they can be cleaned up. The view is pure; the
// container below reads all keys (500 a request) through the admin API.
import { useState } from "react";
import { Link } from "react-router-dom";
import { absolute, relative } from "../lib/format";
import { UNUSED_CHOICES, pageOf, unusedDays } from "../lib/key-list-model";
import { keyHref, ownerHref } from "../lib/links";
import { useAllTokens } from "../lib/queries/keys";
import type { Token } from "../lib/schemas";
import { Pager } from "./pager";
import { QueryView, fromQuery } from "./query-view";
import { RefusedBadge, shownRefusal } from "./refused-now";
import { StatusBadge } from "./status-badge";
import "./key-list.css";

export const STALE_DEFAULT_DAYS = 30;
const STALE_ROWS = 20;

/** Keys unused for `days` or more, longest idle first (ties: by owner, then name). */
export function staleKeys(tokens: Token[], now: number, days: number): { token: Token; idle: number }[] {
  return tokens
    .flatMap((token) => {
      const idle = unusedDays(token, now);
      return idle !== null && idle >= days ? [{ token, idle }] : [];
    })
    .sort(
      (a, b) =>
        b.idle - a.idle || a.token.owner.localeCompare(b.token.owner) || a.token.name.localeCompare(b.token.name),
    );
}

export function StaleKeysView({
  tokens,
  now,
  days,
  onDays,
  page,
  onPage,
  loadingMore = false,
}: {
  tokens: Token[];
  now: number;
  days: number;
  onDays: (days: number) => void;
  page: number;
  onPage: (page: number) => void;
  loadingMore?: boolean;
}) {
  const stale = staleKeys(tokens, now, days);
  const paged = pageOf(stale, page, STALE_ROWS);
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
      <p className="muted" role="status" aria-live="polite">
        {stale.length === 0
          ? `No key unused for ${days} days or more`
          : `${stale.length === 1 ? "1 key" : `${stale.length} keys`} of ${tokens.length} unused for ${days} days or more`}
        {loadingMore ? " (still counting…)" : "."}
      </p>
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

/** The overview's "Stale keys" section: every owner's keys, through the admin API. */
export function StaleKeys() {
  const tokens = useAllTokens(null);
  // The list is asked again every 30 s: its answer's time is "now" (never earlier than the page opened).
  const [opened] = useState(() => Date.now());
  const [days, setDays] = useState(STALE_DEFAULT_DAYS);
  const [page, setPage] = useState(1);
  return (
    <section className="stale-keys" aria-labelledby="stale-keys">
      <h2 id="stale-keys">Stale keys</h2>
      <QueryView what="keys" {...fromQuery(tokens)}>
        {(data) => (
          <StaleKeysView
            tokens={data.pages.flatMap((p) => p.tokens)}
            now={Math.max(opened, tokens.dataUpdatedAt)}
            days={days}
            onDays={(d) => {
              setDays(d);
              setPage(1);
            }}
            page={page}
            onPage={setPage}
            loadingMore={tokens.hasNextPage}
          />
        )}
      </QueryView>
    </section>
  );
}
