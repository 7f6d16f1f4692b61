// An endpoint's filters and state, as the Webhooks page and an endpoint's page show them.
import { absolute, relative } from "../lib/format";
import type { WebhookEndpoint } from "../lib/schemas";
import { endpointState } from "../lib/webhooks";
import { Chips } from "./permission-picker";
import "./permissions.css";
import "./webhooks.css";

/** "all events", or the types and families as chips. */
export function EventFilters({ e }: { e: WebhookEndpoint }) {
  if (e.event_types.length === 0) return <span>all events</span>;
  return <Chips values={e.event_types} label={`Event types sent to ${e.url}`} />;
}

/** "all owners", or the owners as chips. */
export function OwnerFilters({ e }: { e: WebhookEndpoint }) {
  if (e.owners.length === 0) return <span>all owners</span>;
  return <Chips values={e.owners} label={`Owners whose events go to ${e.url}`} />;
}

/** Active; failing since when; disabled, and why when keygate did it. */
export function EndpointStateView({ e, now }: { e: WebhookEndpoint; now: number }) {
  const s = endpointState(e);
  switch (s.kind) {
    case "active":
      return <span className="badge badge-active">Active</span>;
    case "failing":
      return (
        <span className="endpoint-state">
          <span className="badge badge-failing">Failing</span>{" "}
          <span className="small">
            since <time dateTime={s.since}>{absolute(s.since)}</time> <span className="muted">({relative(s.since, now)})</span>
          </span>
        </span>
      );
    case "disabled":
      return (
        <span className="endpoint-state">
          <span className="badge badge-disabled">Disabled</span>{" "}
          <span className="small">{s.reason ? `by keygate: ${s.reason}` : "by an administrator"}</span>
        </span>
      );
  }
}

/** The newest secret's start, and whether an older one still signs (a rotation's overlap). */
export function SecretHint({ e }: { e: WebhookEndpoint }) {
  return (
    <span className="secret-hint">
      <code>{e.secret_hint}</code>
      {e.signing_secrets > 1 && (
        <span className="muted small"> and {e.signing_secrets - 1} older, still signing</span>
      )}
    </span>
  );
}
