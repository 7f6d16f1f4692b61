// Admin: the audit log, newest first, filtered by owner, actor or key.
import { useState } from "react";
import { useSearchParams } from "react-router-dom";
import { ErrorNote, Loading } from "../components/state";
import { absolute } from "../lib/format";
import { type AuditFilter, useAudit } from "../lib/queries";
import type { AuditEvent } from "../lib/schemas";

export function AuditPage() {
  const [params, setParams] = useSearchParams();
  const filter: AuditFilter = {
    owner: params.get("owner") ?? "",
    actor: params.get("actor") ?? "",
    token_id: params.get("token_id") ?? "",
  };
  const audit = useAudit(filter);
  return (
    <AuditView
      filter={filter}
      onFilter={(f) => {
        const next = new URLSearchParams();
        for (const [k, v] of Object.entries(f) as [string, string][]) if (v.trim()) next.set(k, v.trim());
        setParams(next);
      }}
      events={audit.data?.pages.flatMap((p) => p.events)}
      pending={audit.isPending}
      error={audit.isError ? audit.error : null}
      more={audit.hasNextPage}
      loadingMore={audit.isFetchingNextPage}
      onMore={() => {
        void audit.fetchNextPage();
      }}
      onRetry={() => {
        void audit.refetch();
      }}
    />
  );
}

export function AuditView(p: {
  filter: AuditFilter;
  onFilter: (f: AuditFilter) => void;
  events: AuditEvent[] | undefined;
  pending: boolean;
  error: unknown;
  more: boolean;
  loadingMore: boolean;
  onMore: () => void;
  onRetry: () => void;
}) {
  const [draft, setDraft] = useState(p.filter);
  const fields: [keyof AuditFilter, string, string][] = [
    ["owner", "Owner", "alice"],
    ["actor", "Actor", "subject"],
    ["token_id", "Key id", "key id"],
  ];
  return (
    <section className="page">
      <div className="page-head">
        <h1>Audit log</h1>
      </div>
      <form
        className="filters"
        onSubmit={(e) => {
          e.preventDefault();
          p.onFilter(draft);
        }}
      >
        {fields.map(([k, label, placeholder]) => (
          <div className="field" key={k}>
            <label htmlFor={`audit-${k}`}>{label}</label>
            <input
              id={`audit-${k}`}
              type="search"
              value={draft[k]}
              placeholder={placeholder}
              spellCheck={false}
              onChange={(e) => {
                setDraft({ ...draft, [k]: e.target.value });
              }}
            />
          </div>
        ))}
        <div className="filter-actions">
          <button type="submit" className="button button-primary">
            Filter
          </button>
          <button
            type="button"
            className="button"
            onClick={() => {
              const none = { owner: "", actor: "", token_id: "" };
              setDraft(none);
              p.onFilter(none);
            }}
          >
            Clear
          </button>
        </div>
      </form>
      {p.error ? (
        <ErrorNote error={p.error} onRetry={p.onRetry} />
      ) : p.pending || !p.events ? (
        <Loading what="the audit log" />
      ) : p.events.length === 0 ? (
        <p className="empty">No events match.</p>
      ) : (
        <>
          <table className="audit">
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Actor</th>
                <th scope="col">Action</th>
                <th scope="col">Owner</th>
                <th scope="col">Key</th>
                <th scope="col">From</th>
              </tr>
            </thead>
            <tbody>
              {p.events.map((e) => (
                <tr key={e.seq}>
                  <td data-label="When">{absolute(e.at)}</td>
                  <td data-label="Actor">
                    {e.actor} <span className="muted small">({e.auth})</span>
                  </td>
                  <td data-label="Action">
                    <span className={`action action-${e.action}`}>{e.action}</span>
                  </td>
                  <td data-label="Owner">{e.owner}</td>
                  <td data-label="Key">{e.token_id ? <code>{e.token_id}</code> : <span className="muted">—</span>}</td>
                  <td data-label="From">{e.client ?? <span className="muted">—</span>}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {p.more && (
            <button type="button" className="button" disabled={p.loadingMore} onClick={p.onMore}>
              {p.loadingMore ? "Loading…" : "Older events"}
            </button>
          )}
        </>
      )}
    </section>
  );
}
