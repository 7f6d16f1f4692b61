// Admin: every owner with their number of keys and their keys' last 24 hours
// (requests, refusals and the refused share, hour by hour), sorted by the server by
// name, requests or refusals (`?sort=` in the URL, so a sorted list can be linked and
// comes back with the browser's Back) — the console's "Owners" — and the way to the
// roles granted to owners and to the webhooks.
import { useDeferredValue, useState } from "react";
import { Link, useNavigate, useSearchParams } from "react-router-dom";
import { activityFigures } from "../components/key-activity";
import { QueryView } from "../components/query-view";
import { Sparkline } from "../components/sparkline";
import { groupDigits } from "../lib/format";
import { type OwnerSort, ownerSorts, useOwners } from "../lib/queries/owners";
import type { Activity, Owner } from "../lib/schemas";
import "./owners-page.css";

// "24 h" never breaks in two (a phone's card labels are narrow).
const REQUESTS = "Requests (24\u00a0h)";
const REFUSED = "Refused (24\u00a0h)";

const sortLabels: Record<OwnerSort, string> = {
  name: "Name",
  requests: REQUESTS,
  refusals: "Refusals (24\u00a0h)",
};

/** The URL's `sort`, or by name (absent, or not one the server knows). */
export function sortOf(s: string | null): OwnerSort {
  return ownerSorts.find((x) => x === s) ?? "name";
}

/** "12%", "<1%" (a refusal among many still shows), "" without requests. */
export function refusedShare(a: Activity | undefined): string {
  if (!a || a.requests === 0) return "";
  const pct = (a.refusals / a.requests) * 100;
  if (a.refusals > 0 && pct < 1) return "<1%";
  return `${Math.round(pct)}%`;
}

export function OwnersPage() {
  const [q, setQ] = useState("");
  const deferred = useDeferredValue(q.trim());
  const [params, setParams] = useSearchParams();
  const sort = sortOf(params.get("sort"));
  const owners = useOwners(deferred, sort);
  const navigate = useNavigate();
  return (
    <OwnersView
      onOpen={(owner) => {
        void navigate(`/admin/owners/${encodeURIComponent(owner)}`);
      }}
      q={q}
      onQ={setQ}
      sort={sort}
      onSort={(next) => {
        setParams(
          (p) => {
            const n = new URLSearchParams(p);
            // By name is the default: the plain URL.
            if (next === "name") n.delete("sort");
            else n.set("sort", next);
            return n;
          },
          { replace: true },
        );
      }}
      owners={owners.data?.pages.flatMap((p) => p.owners)}
      more={owners.hasNextPage}
      loadingMore={owners.isFetchingNextPage}
      onMore={() => {
        void owners.fetchNextPage();
      }}
      pending={owners.isPending}
      error={owners.isError ? owners.error : null}
      onRetry={() => {
        void owners.refetch();
      }}
    />
  );
}

export function OwnersView(p: {
  onOpen: (owner: string) => void;
  q: string;
  onQ: (q: string) => void;
  sort: OwnerSort;
  onSort: (sort: OwnerSort) => void;
  owners: Owner[] | undefined;
  more?: boolean;
  loadingMore?: boolean;
  onMore?: () => void;
  pending: boolean;
  error: unknown;
  onRetry: () => void;
}) {
  return (
    <section className="page">
      <div className="page-head">
        <h1>Owners</h1>
        <div className="key-actions">
          <Link className="button" to="/admin/roles">
            Roles
          </Link>
          <Link className="button" to="/admin/webhooks">
            Webhooks
          </Link>
        </div>
      </div>
      <div className="filters">
        <div className="field">
          <label htmlFor="owner-search">Search owners</label>
          <input
            id="owner-search"
            type="search"
            value={p.q}
            placeholder="Subject contains…"
            onChange={(e) => {
              p.onQ(e.target.value);
            }}
          />
        </div>
        {/* The headings sort too, but a phone shows none: this works everywhere. */}
        <div className="field owner-sort">
          <label htmlFor="owner-sort">Sort by</label>
          <select
            id="owner-sort"
            value={p.sort}
            onChange={(e) => {
              p.onSort(sortOf(e.target.value));
            }}
          >
            {ownerSorts.map((s) => (
              <option key={s} value={s}>
                {sortLabels[s]}
                {s === "name" ? "" : ", most first"}
              </option>
            ))}
          </select>
        </div>
      </div>
      <QueryView
        what="owners"
        data={p.owners}
        pending={p.pending}
        error={p.error}
        onRetry={p.onRetry}
        empty={<p className="empty">{p.q ? "No owner matches." : "Nobody has a key yet."}</p>}
      >
        {(owners) => (
          <table className="owners owners-activity">
            <caption className="visually-hidden">
              Owners by {p.sort === "name" ? "name" : `${sortLabels[p.sort].toLowerCase()}, most first`}
            </caption>
            <thead>
              <tr>
                <SortHead sort="name" current={p.sort} onSort={p.onSort} label="Owner" />
                <th scope="col" className="num">
                  Keys
                </th>
                <SortHead sort="requests" current={p.sort} onSort={p.onSort} label={REQUESTS} num />
                <SortHead sort="refusals" current={p.sort} onSort={p.onSort} label={REFUSED} num />
                <th scope="col" className="owner-spark">
                  Hour by hour
                </th>
              </tr>
            </thead>
            <tbody>
              {owners.map((o) => (
                <OwnerRow key={o.owner} o={o} />
              ))}
            </tbody>
          </table>
        )}
      </QueryView>
      {p.more && p.onMore && (
        <button type="button" className="button" disabled={p.loadingMore} onClick={p.onMore}>
          {p.loadingMore ? "Loading…" : "More owners"}
        </button>
      )}
      <OpenOwner onOpen={p.onOpen} />
    </section>
  );
}

/**
 * A column heading that sorts the list by it: a button, and `aria-sort` on the heading
 * while the list is in its order (by name A to Z; by requests or refusals most first,
 * the only way the server sorts them).
 */
function SortHead({
  sort,
  current,
  onSort,
  label,
  num = false,
}: {
  sort: OwnerSort;
  current: OwnerSort;
  onSort: (sort: OwnerSort) => void;
  label: string;
  num?: boolean;
}) {
  const on = sort === current;
  return (
    <th
      scope="col"
      className={num ? "num" : undefined}
      aria-sort={on ? (sort === "name" ? "ascending" : "descending") : undefined}
    >
      <button
        type="button"
        className="sort"
        onClick={() => {
          onSort(sort);
        }}
      >
        {label}
        <span aria-hidden="true">{on ? (sort === "name" ? " ↑" : " ↓") : ""}</span>
      </button>
    </th>
  );
}

/** One owner: their keys, and their keys' last 24 hours (none: nothing asked). */
function OwnerRow({ o }: { o: Owner }) {
  const a = o.activity;
  const requests = a?.requests ?? 0;
  const refusals = a?.refusals ?? 0;
  const share = refusedShare(a);
  return (
    <tr>
      <td data-label="Owner" className="owner-name">
        <Link to={`/admin/owners/${encodeURIComponent(o.owner)}`} title={o.owner}>
          {o.owner}
        </Link>
      </td>
      <td data-label="Keys" className="num">
        {o.keys}
      </td>
      <td data-label={REQUESTS} className={requests === 0 ? "num muted" : "num"}>
        {groupDigits(requests)}
      </td>
      <td data-label={REFUSED} className={refusals > 0 ? "num warn" : "num muted"}>
        {groupDigits(refusals)}
        {share && refusals > 0 && <span className="owner-share"> ({share})</span>}
      </td>
      <td data-label="Hour by hour" className="owner-spark">
        {a && a.requests > 0 ? <Sparkline {...activityFigures(a)} /> : <span className="muted">no requests</span>}
      </td>
    </tr>
  );
}

/** Someone without keys is listed nowhere: open their page by subject to make one. */
function OpenOwner({ onOpen }: { onOpen: (owner: string) => void }) {
  const [owner, setOwner] = useState("");
  return (
    <form
      className="filters open-owner"
      onSubmit={(e) => {
        e.preventDefault();
        if (owner.trim()) onOpen(owner.trim());
      }}
    >
      <div className="field">
        <label htmlFor="open-owner">Keys of someone not listed (their subject)</label>
        <input
          id="open-owner"
          type="text"
          value={owner}
          spellCheck={false}
          autoComplete="off"
          placeholder="e.g. bob@example.com"
          onChange={(e) => {
            setOwner(e.target.value);
          }}
        />
      </div>
      <div className="filter-actions">
        <button type="submit" className="button" disabled={!owner.trim()}>
          Open
        </button>
      </div>
    </form>
  );
}
