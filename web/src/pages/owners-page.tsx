// Admin: every owner with their number of keys.
import { useDeferredValue, useState } from "react";
import { Link, useNavigate } from "react-router-dom";
import { QueryView } from "../components/query-view";
import { useOwners } from "../lib/queries/owners";
import type { Owner } from "../lib/schemas";

export function OwnersPage() {
  const [q, setQ] = useState("");
  const deferred = useDeferredValue(q.trim());
  const owners = useOwners(deferred);
  const navigate = useNavigate();
  return (
    <OwnersView
      onOpen={(owner) => {
        void navigate(`/admin/owners/${encodeURIComponent(owner)}`);
      }}
      q={q}
      onQ={setQ}
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
          <Link className="button" to="/admin/usage">
            Usage
          </Link>
          <Link className="button" to="/admin/webhooks">
            Webhooks
          </Link>
          <Link className="button" to="/admin/audit">
            Audit log
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
          <table className="owners">
            <thead>
              <tr>
                <th scope="col">Owner</th>
                <th scope="col" className="num">
                  Keys
                </th>
              </tr>
            </thead>
            <tbody>
              {owners.map((o) => (
                <tr key={o.owner}>
                  <td data-label="Owner">
                    <Link to={`/admin/owners/${encodeURIComponent(o.owner)}`}>{o.owner}</Link>
                  </td>
                  <td data-label="Keys" className="num">
                    {o.keys}
                  </td>
                </tr>
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
