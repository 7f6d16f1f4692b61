// Admin: the webhook endpoints keygate signs and sends events to (Standard Webhooks):
// where, which events and owners, whether deliveries get through, the secret's hint;
// and each one's actions: a test event, a new secret, enable or disable, edit, delete.
// An endpoint's deliveries are on its own page.
import { useState } from "react";
import { Link } from "react-router-dom";
import { QueryView, fromQuery } from "../components/query-view";
import { StaleBanner, isStale } from "../components/stale-banner";
import { type WebhookModal, useWebhookActions, webhookHref } from "../components/webhook-dialogs";
import { EndpointStateView, EventFilters, OwnerFilters, SecretHint } from "../components/webhook-summary";
import { useWebhooks } from "../lib/queries/webhooks";
import type { WebhookEndpoint } from "../lib/schemas";
import "../components/webhooks.css";

export function WebhooksPage() {
  const endpoints = useWebhooks();
  const actions = useWebhookActions();
  const [now] = useState(() => Date.now());
  const stale = isStale(endpoints);
  return (
    <section className="page webhooks-page">
      <nav className="breadcrumbs" aria-label="Breadcrumbs">
        <Link to="/admin/owners">Owners</Link> <span aria-hidden="true">›</span> <span>Webhooks</span>
      </nav>
      <div className="page-head">
        <h1>Webhooks</h1>
        <button
          type="button"
          className="button button-primary"
          onClick={() => {
            actions.open({ kind: "create" });
          }}
        >
          New endpoint
        </button>
      </div>
      <p className="hint">
        keygate POSTs an event to each endpoint when a key is created, changed, rotated, revoked or leaked, or meets a
        limit, signed with the endpoint’s secret (Standard Webhooks). A failed delivery is retried; an endpoint failing
        for days is disabled.
      </p>
      {actions.notice}
      {stale && (
        <StaleBanner
          what="the endpoints"
          error={endpoints.error}
          updatedAt={endpoints.dataUpdatedAt}
          onRetry={() => {
            void endpoints.refetch();
          }}
        />
      )}
      <QueryView
        what="the endpoints"
        {...fromQuery(endpoints)}
        error={endpoints.isError && !stale ? endpoints.error : null}
        data={endpoints.data?.endpoints}
        empty={<p className="empty">No endpoints yet. Add one with “New endpoint”.</p>}
      >
        {(list) => (
          <EndpointsTable
            endpoints={list}
            now={Math.max(now, endpoints.dataUpdatedAt)}
            testing={actions.testing}
            toggling={actions.toggling}
            onTest={actions.test}
            onToggle={actions.toggle}
            onOpen={actions.open}
          />
        )}
      </QueryView>
      {actions.dialogs}
    </section>
  );
}

export function EndpointsTable({
  endpoints,
  now,
  testing,
  toggling,
  onTest,
  onToggle,
  onOpen,
}: {
  endpoints: WebhookEndpoint[];
  now: number;
  testing: string | null;
  toggling: string | null;
  onTest: (e: WebhookEndpoint) => void;
  onToggle: (e: WebhookEndpoint) => void;
  onOpen: (m: WebhookModal) => void;
}) {
  return (
    <table className="webhooks-table">
      <thead>
        <tr>
          <th scope="col">Endpoint</th>
          <th scope="col">Events</th>
          <th scope="col">Owners</th>
          <th scope="col">State</th>
          <th scope="col">Secret</th>
          <th scope="col">
            <span className="visually-hidden">Actions</span>
          </th>
        </tr>
      </thead>
      <tbody>
        {endpoints.map((e) => (
          <tr key={e.id} data-endpoint={e.id}>
            <td data-label="Endpoint" className="endpoint-cell">
              <Link className="endpoint-url" to={webhookHref(e.id)}>
                {e.url}
              </Link>
              {e.description ? (
                <span className="endpoint-description">{e.description}</span>
              ) : (
                <span className="muted small">no description</span>
              )}
            </td>
            <td data-label="Events">
              <EventFilters e={e} />
            </td>
            <td data-label="Owners">
              <OwnerFilters e={e} />
            </td>
            <td data-label="State">
              <EndpointStateView e={e} now={now} />
            </td>
            <td data-label="Secret">
              <SecretHint e={e} />
            </td>
            <td className="row-actions webhook-actions">
              <button
                type="button"
                className="button button-small"
                aria-label={`Test ${e.url}`}
                disabled={testing === e.id || e.disabled}
                onClick={() => {
                  onTest(e);
                }}
              >
                {testing === e.id ? "Sending…" : "Test"}
              </button>
              <button
                type="button"
                className="button button-small"
                aria-label={`Rotate secret of ${e.url}`}
                onClick={() => {
                  onOpen({ kind: "rotate", endpoint: e });
                }}
              >
                Rotate secret
              </button>
              <button
                type="button"
                className="button button-small"
                aria-label={`${e.disabled ? "Enable" : "Disable"} ${e.url}`}
                disabled={toggling === e.id}
                onClick={() => {
                  onToggle(e);
                }}
              >
                {e.disabled ? "Enable" : "Disable"}
              </button>
              <button
                type="button"
                className="button button-small"
                aria-label={`Edit ${e.url}`}
                onClick={() => {
                  onOpen({ kind: "edit", endpoint: e });
                }}
              >
                Edit
              </button>
              <button
                type="button"
                className="button button-small button-danger"
                aria-label={`Delete ${e.url}`}
                onClick={() => {
                  onOpen({ kind: "delete", endpoint: e });
                }}
              >
                Delete
              </button>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
