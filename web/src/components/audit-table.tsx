// The audit log's events as a table: when (to the second), who, what, on which owner
// and key (by name, linked while it exists), what changed (field, old → new), from where.
import { Link } from "react-router-dom";
import { absoluteSeconds } from "../lib/format";
import { keyHref } from "../lib/links";
import type { AuditChange, AuditEvent } from "../lib/schemas";

/** "field: old → new", ∅ for a value that was not set. */
function Change({ c }: { c: AuditChange }) {
  return (
    <li>
      <span className="muted">{c.field}:</span> <code>{c.from ?? "∅"}</code> → <code>{c.to ?? "∅"}</code>
    </li>
  );
}

/**
 * What a webhook change was about: an endpoint ("ep_…"), or a delivery
 * ("{event id}.{endpoint id}", a replay), linked to the endpoint's page.
 */
function WebhookTarget({ name }: { name: string }) {
  const dot = name.indexOf(".");
  const endpoint = dot < 0 ? name : name.slice(dot + 1);
  const href = `/admin/webhooks/${encodeURIComponent(endpoint)}${dot < 0 ? "" : `?delivery=${encodeURIComponent(name)}`}`;
  return (
    <>
      <Link to={href}>{dot < 0 ? "webhook endpoint" : "webhook delivery"}</Link> <code className="muted small">{name}</code>
    </>
  );
}

export function AuditTable({ events }: { events: AuditEvent[] }) {
  return (
    <table className="audit">
      <thead>
        <tr>
          <th scope="col">When</th>
          <th scope="col">Actor</th>
          <th scope="col">Action</th>
          <th scope="col">Owner</th>
          <th scope="col">Key</th>
          <th scope="col">Changes</th>
          <th scope="col">From</th>
        </tr>
      </thead>
      <tbody>
        {events.map((e) => (
          <tr key={e.seq}>
            <td data-label="When" className="audit-when">
              <time dateTime={e.at}>{absoluteSeconds(e.at)}</time>
            </td>
            <td data-label="Actor">
              {e.actor} <span className="muted small">({e.auth})</span>
            </td>
            <td data-label="Action">
              <span className={`action action-${e.action}`}>{e.action}</span>
            </td>
            <td data-label="Owner">{e.owner}</td>
            <td data-label="Key">
              {e.token_id ? (
                <>
                  {e.action === "delete" ? (
                    <span>{e.name ?? "(unnamed)"}</span>
                  ) : (
                    <Link to={keyHref("any", e.token_id)}>{e.name ?? e.token_id}</Link>
                  )}{" "}
                  <code className="muted small">{e.token_id}</code>
                </>
              ) : e.action.startsWith("webhook_") && e.name ? (
                <WebhookTarget name={e.name} />
              ) : (
                <span className="muted">—</span>
              )}
            </td>
            <td data-label="Changes">
              {e.changes.length ? (
                <ul className="audit-changes">
                  {e.changes.map((c, i) => (
                    <Change key={i} c={c} />
                  ))}
                </ul>
              ) : (
                <span className="muted">—</span>
              )}
            </td>
            <td data-label="From">{e.client ?? <span className="muted">—</span>}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
