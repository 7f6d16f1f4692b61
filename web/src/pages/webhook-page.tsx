// Admin: one webhook endpoint (/admin/webhooks/{id}): what it gets, its state and
// secret, its actions, and every delivery made to it with their attempts.
import { useState } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { EndpointDeliveries } from "../components/deliveries";
import { StaleBanner, isStale } from "../components/stale-banner";
import { ErrorNote, Loading } from "../components/state";
import { useWebhookActions } from "../components/webhook-dialogs";
import { EndpointStateView, EventFilters, OwnerFilters, SecretHint } from "../components/webhook-summary";
import { CopyButton } from "../components/copy-button";
import { absolute, relative } from "../lib/format";
import { useWebhook } from "../lib/queries/webhooks";
import "../components/webhooks.css";

export function WebhookPage() {
  const { id = "" } = useParams();
  const navigate = useNavigate();
  // While it is deleted, the endpoint is not read again (it would answer 404 before we leave).
  const [leaving, setLeaving] = useState(false);
  const endpoint = useWebhook(id, !leaving);
  const actions = useWebhookActions({
    linkDeliveries: false,
    onDeleted: () => {
      setLeaving(true);
      void navigate("/admin/webhooks", { replace: true, state: { focusHeading: true } });
    },
  });
  const [now] = useState(() => Date.now());

  if (endpoint.isPending) return <Loading what="the endpoint" />;
  if (endpoint.isError && !isStale(endpoint))
    return (
      <section className="page">
        <ErrorNote
          error={endpoint.error}
          onRetry={() => {
            void endpoint.refetch();
          }}
        />
        <p>
          <Link to="/admin/webhooks">Back to the webhooks</Link>
        </p>
      </section>
    );
  const e = endpoint.data;
  if (e === undefined) return <Loading what="the endpoint" />;
  return (
    <section className="page webhook-page">
      <nav className="breadcrumbs" aria-label="Breadcrumbs">
        <Link to="/admin/owners">Owners</Link> <span aria-hidden="true">›</span> <Link to="/admin/webhooks">Webhooks</Link>{" "}
        <span aria-hidden="true">›</span> <span className="endpoint-url-inline">{e.url}</span>
      </nav>
      <div className="page-head">
        <h1 className="endpoint-title">
          <span className="visually-hidden">Webhook endpoint </span>
          {e.url}
        </h1>
        <div className="key-actions">
          <button
            type="button"
            className="button"
            disabled={actions.testing === e.id || e.disabled}
            onClick={() => {
              actions.test(e);
            }}
          >
            {actions.testing === e.id ? "Sending…" : "Send test event"}
          </button>
          <button
            type="button"
            className="button"
            onClick={() => {
              actions.open({ kind: "rotate", endpoint: e });
            }}
          >
            Rotate secret
          </button>
          <button
            type="button"
            className="button"
            disabled={actions.toggling === e.id}
            onClick={() => {
              actions.toggle(e);
            }}
          >
            {e.disabled ? "Enable" : "Disable"}
          </button>
          <button
            type="button"
            className="button"
            onClick={() => {
              actions.open({ kind: "edit", endpoint: e });
            }}
          >
            Edit
          </button>
          <button
            type="button"
            className="button button-danger"
            onClick={() => {
              actions.open({ kind: "delete", endpoint: e });
            }}
          >
            Delete
          </button>
        </div>
      </div>
      {actions.notice}
      {isStale(endpoint) && (
        <StaleBanner
          what="the endpoint"
          error={endpoint.error}
          updatedAt={endpoint.dataUpdatedAt}
          onRetry={() => {
            void endpoint.refetch();
          }}
        />
      )}
      <dl className="key-details endpoint-details">
        <dt>Description</dt>
        <dd>{e.description || <span className="muted">none</span>}</dd>
        <dt>Events</dt>
        <dd>
          <EventFilters e={e} />
        </dd>
        <dt>Owners</dt>
        <dd>
          <OwnerFilters e={e} />
        </dd>
        <dt>State</dt>
        <dd data-testid="endpoint-state">
          <EndpointStateView e={e} now={Math.max(now, endpoint.dataUpdatedAt)} />
        </dd>
        <dt>Secret</dt>
        <dd>
          <SecretHint e={e} />
        </dd>
        <dt>Created</dt>
        <dd>
          <time dateTime={e.created_at}>{absolute(e.created_at)}</time>{" "}
          <span className="muted">({relative(e.created_at, Math.max(now, endpoint.dataUpdatedAt))})</span>
        </dd>
        <dt>Id</dt>
        <dd className="key-id">
          <code>{e.id}</code> <CopyButton text={e.id} label="Copy id" />
        </dd>
      </dl>
      <EndpointDeliveries endpointId={e.id} enabled={!leaving} />
      {actions.dialogs}
    </section>
  );
}
