// Admin: the audit log, newest first: who did what to which key (by name, linked),
// what changed (field, old → new), to the second; filtered by owner, actor, key,
// action and time range; exported as CSV or JSON with the same filters.
import { useState } from "react";
import { useSearchParams } from "react-router-dom";
import { AuditTable } from "../components/audit-table";
import { QueryView } from "../components/query-view";
import { StaleBanner, isStale } from "../components/stale-banner";
import { messageOf } from "../components/state";
import { fromLocalInput, toLocalInput, zoneLabel } from "../lib/format";
import { type AuditFilter, noAuditFilter, useAudit, useAuditExport } from "../lib/queries/audit";
import type { AuditEvent } from "../lib/schemas";
import "../components/trust.css";

/** The actions keygate records (src/manage.rs), as the filter offers them. */
export const auditActions: [string, string][] = [
  ["create", "create"],
  ["update", "update"],
  ["limits", "limits (of a key)"],
  ["disable", "disable"],
  ["enable", "enable"],
  ["rotate", "rotate"],
  ["delete", "delete"],
  ["import", "import"],
  ["owner_limits", "owner limits set"],
  ["owner_limits_clear", "owner limits cleared"],
  ["webhook_create", "webhook endpoint created"],
  ["webhook_update", "webhook endpoint changed"],
  ["webhook_delete", "webhook endpoint deleted"],
  ["webhook_rotate_secret", "webhook secret rotated"],
  ["webhook_replay", "webhook delivery replayed"],
  ["webhook_disable", "webhook endpoint disabled by keygate"],
];

export function AuditPage() {
  const [params, setParams] = useSearchParams();
  const filter: AuditFilter = {
    owner: params.get("owner") ?? "",
    actor: params.get("actor") ?? "",
    token_id: params.get("token_id") ?? "",
    action: params.get("action") ?? "",
    since: params.get("since") ?? "",
    until: params.get("until") ?? "",
  };
  const audit = useAudit(filter);
  const exporter = useAuditExport();
  const stale = isStale(audit);
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
      error={audit.isError && !stale ? audit.error : null}
      stale={stale ? { error: audit.error, updatedAt: audit.dataUpdatedAt } : null}
      more={audit.hasNextPage}
      loadingMore={audit.isFetchingNextPage}
      onMore={() => {
        void audit.fetchNextPage();
      }}
      onRetry={() => {
        void audit.refetch();
      }}
      exporting={exporter.isPending}
      exportError={exporter.error}
      onExport={(format) => {
        exporter.mutate({ filter, format });
      }}
    />
  );
}

export interface AuditViewProps {
  filter: AuditFilter;
  onFilter: (f: AuditFilter) => void;
  events: AuditEvent[] | undefined;
  pending: boolean;
  error: unknown;
  /** The events on screen could not be refreshed. */
  stale?: { error: unknown; updatedAt: number } | null;
  more: boolean;
  loadingMore: boolean;
  onMore: () => void;
  onRetry: () => void;
  exporting?: boolean;
  exportError?: unknown;
  onExport?: (format: "csv" | "json") => void;
  /** For tests: "now" in ms (the time zone's offset). */
  now?: number;
}

export function AuditView(p: AuditViewProps) {
  // The time bounds are typed in the browser's zone (datetime-local) and sent in UTC.
  const [draft, setDraft] = useState({ ...p.filter, since: toLocalInput(p.filter.since), until: toLocalInput(p.filter.until) });
  const [rangeError, setRangeError] = useState<string | null>(null);
  const fields: [keyof AuditFilter, string, string][] = [
    ["owner", "Owner", "alice"],
    ["actor", "Actor", "subject"],
    ["token_id", "Key id", "key id"],
  ];
  const zone = zoneLabel(p.now);
  return (
    <section className="page">
      <div className="page-head">
        <h1>Audit log</h1>
        {p.onExport && (
          <div className="audit-export" role="group" aria-label="Export the events that match">
            <button
              type="button"
              className="button"
              disabled={p.exporting}
              onClick={() => {
                p.onExport?.("csv");
              }}
            >
              Export CSV
            </button>
            <button
              type="button"
              className="button"
              disabled={p.exporting}
              onClick={() => {
                p.onExport?.("json");
              }}
            >
              Export JSON
            </button>
          </div>
        )}
      </div>
      {p.exportError != null && (
        <p className="notice notice-error" role="alert">
          The export failed: {messageOf(p.exportError)}
        </p>
      )}
      <form
        className="filters"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          const since = draft.since ? fromLocalInput(draft.since) : "";
          const until = draft.until ? fromLocalInput(draft.until) : "";
          if (since === null || until === null) {
            setRangeError("Give a date and a time (or leave the field empty).");
            return;
          }
          if (since && until && Date.parse(since) >= Date.parse(until)) {
            setRangeError("“Since” must be before “Until”.");
            return;
          }
          setRangeError(null);
          p.onFilter({ ...draft, since, until });
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
        <div className="field">
          <label htmlFor="audit-action">Action</label>
          <select
            id="audit-action"
            value={draft.action}
            onChange={(e) => {
              setDraft({ ...draft, action: e.target.value });
            }}
          >
            <option value="">Any action</option>
            {auditActions.map(([value, label]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </select>
        </div>
        {(
          [
            ["since", "Since"],
            ["until", "Until"],
          ] as const
        ).map(([k, label]) => (
          <div className={rangeError ? "field field-invalid" : "field"} key={k}>
            <label htmlFor={`audit-${k}`}>{label}</label>
            <input
              id={`audit-${k}`}
              type="datetime-local"
              step={1}
              value={draft[k]}
              aria-describedby={rangeError ? "audit-range-err audit-zone" : "audit-zone"}
              aria-invalid={rangeError !== null}
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
              setDraft(noAuditFilter);
              setRangeError(null);
              p.onFilter(noAuditFilter);
            }}
          >
            Clear
          </button>
        </div>
        <p className="hint zone-note" id="audit-zone">
          Times are in your time zone ({zone}).
        </p>
        {rangeError && (
          <p className="field-error" id="audit-range-err" role="alert">
            {rangeError}
          </p>
        )}
      </form>
      {p.stale && <StaleBanner what="the audit log" error={p.stale.error} updatedAt={p.stale.updatedAt} onRetry={p.onRetry} />}
      <QueryView
        what="the audit log"
        data={p.events}
        pending={p.pending}
        error={p.error}
        onRetry={p.onRetry}
        empty={<p className="empty">No events match.</p>}
      >
        {(events) => (
          <>
            <AuditTable events={events} />
            {p.more && (
              <button type="button" className="button" disabled={p.loadingMore} onClick={p.onMore}>
                {p.loadingMore ? "Loading…" : "Older events"}
              </button>
            )}
          </>
        )}
      </QueryView>
    </section>
  );
}
