// An endpoint's deliveries, newest first: the event, when, its state (and when the next
// attempt is due while pending), how many attempts, the last answer; opened, every
// attempt (time, status, duration, error, the start of the answer, whether a replay
// made it) and the payload exactly as sent, pretty-printed. Replay sends one again.
// Which delivery is open is in the URL (?delivery=…), so it can be linked to.
import { useQueryClient } from "@tanstack/react-query";
import { Fragment, useEffect, useState } from "react";
import { useSearchParams } from "react-router-dom";
import { absoluteSeconds } from "../lib/format";
import { useDeliveries, useDelivery, useReplayDelivery } from "../lib/queries/webhooks";
import type { Attempt, Delivery, DeliveryState } from "../lib/schemas";
import { durationText, isoOfMs, lastAttempt, prettyJson, succeeded } from "../lib/webhooks";
import { CopyButton } from "./copy-button";
import { QueryView } from "./query-view";
import { StaleBanner, isStale } from "./stale-banner";
import { messageOf } from "./state";
import "./webhooks.css";

/** The URL parameter naming the open delivery. */
export const OPEN_PARAM = "delivery";

export function EndpointDeliveries({ endpointId, enabled = true }: { endpointId: string; enabled?: boolean }) {
  const q = useDeliveries(endpointId, enabled);
  const replay = useReplayDelivery();
  const [params, setParams] = useSearchParams();
  const openId = params.get(OPEN_PARAM);
  const [message, setMessage] = useState("");
  const deliveries = q.data?.pages.flatMap((p) => p.deliveries);
  // A linked delivery beyond the pages read is read on its own.
  const elsewhere = openId !== null && deliveries !== undefined && !deliveries.some((d) => d.id === openId) ? openId : null;
  const single = useDelivery(endpointId, elsewhere);
  // A delivery's outcome changes its endpoint's state (failing since…, or not): read it again.
  const qc = useQueryClient();
  const outcomes = deliveries?.map((d) => `${d.id}:${d.state}:${String(d.attempts.length)}`).join(" ") ?? "";
  useEffect(() => {
    if (outcomes && enabled) void qc.invalidateQueries({ queryKey: ["webhooks", endpointId], exact: true });
  }, [outcomes, endpointId, enabled, qc]);
  const stale = isStale(q);
  return (
    <DeliveriesView
      deliveries={deliveries}
      linked={elsewhere !== null ? (single.data ?? null) : null}
      linkedError={elsewhere !== null && single.isError ? single.error : null}
      pending={q.isPending}
      error={q.isError && !stale ? q.error : null}
      stale={stale ? { error: q.error, updatedAt: q.dataUpdatedAt } : null}
      onRetry={() => {
        void q.refetch();
      }}
      more={q.hasNextPage}
      loadingMore={q.isFetchingNextPage}
      onMore={() => {
        void q.fetchNextPage();
      }}
      openId={openId}
      onToggle={(id) => {
        const next = new URLSearchParams(params);
        if (id === openId) next.delete(OPEN_PARAM);
        else next.set(OPEN_PARAM, id);
        setParams(next, { replace: true });
      }}
      replaying={replay.isPending ? replay.variables.id : null}
      replayError={replay.error}
      message={message}
      onReplay={(d) => {
        setMessage("");
        replay.mutate(d, {
          onSuccess: () => {
            setMessage(`Replay of ${d.event_type} (${d.event_id}) queued.`);
          },
        });
      }}
    />
  );
}

export interface DeliveriesViewProps {
  deliveries: Delivery[] | undefined;
  /** The open delivery, when it is not among `deliveries` (a link to an older one). */
  linked?: Delivery | null;
  linkedError?: unknown;
  pending: boolean;
  error: unknown;
  stale?: { error: unknown; updatedAt: number } | null;
  onRetry: () => void;
  more: boolean;
  loadingMore: boolean;
  onMore: () => void;
  openId: string | null;
  onToggle: (id: string) => void;
  /** The delivery being replayed. */
  replaying: string | null;
  replayError?: Error | null;
  /** What the last replay said, announced. */
  message?: string;
  onReplay: (d: Delivery) => void;
}

export function DeliveriesView(p: DeliveriesViewProps) {
  return (
    <section className="panel deliveries" aria-labelledby="deliveries-title">
      <div className="panel-head">
        <h2 id="deliveries-title">Deliveries</h2>
        <span className="muted small">newest first; refreshed on their own</span>
        <div className="panel-actions">
          <button type="button" className="button button-small" onClick={p.onRetry}>
            Refresh
          </button>
        </div>
      </div>
      <p className="visually-hidden" role="status" aria-live="polite">
        {p.message}
      </p>
      {p.replayError && (
        <p className="notice notice-error" role="alert">
          The replay failed: {messageOf(p.replayError)}
        </p>
      )}
      {p.stale && <StaleBanner what="the deliveries" error={p.stale.error} updatedAt={p.stale.updatedAt} onRetry={p.onRetry} />}
      {p.linkedError != null && (
        <p className="notice notice-error" role="alert">
          The delivery linked to could not be read: {messageOf(p.linkedError)}
        </p>
      )}
      {p.linked && (
        <div className="linked-delivery">
          <h3>The delivery linked to</h3>
          <DeliveryTable {...p} deliveries={[p.linked]} caption="The delivery linked to" />
        </div>
      )}
      <QueryView
        what="the deliveries"
        data={p.deliveries}
        pending={p.pending}
        error={p.error}
        onRetry={p.onRetry}
        empty={
          <p className="empty">
            Nothing was sent to this endpoint yet. Events it subscribes to appear here as they happen; “Send test event”
            sends one now.
          </p>
        }
      >
        {(list) => (
          <>
            <DeliveryTable {...p} deliveries={list} caption="Deliveries, newest first" />
            {p.more && (
              <button type="button" className="button load-more" disabled={p.loadingMore} onClick={p.onMore}>
                {p.loadingMore ? "Loading…" : "Load more"}
              </button>
            )}
          </>
        )}
      </QueryView>
    </section>
  );
}

const stateLabels: Record<DeliveryState, string> = { pending: "Pending", delivered: "Delivered", failed: "Failed" };

export function DeliveryStateBadge({ state }: { state: DeliveryState }) {
  return <span className={`badge badge-delivery-${state}`}>{stateLabels[state]}</span>;
}

function DeliveryTable({
  deliveries,
  caption,
  openId,
  onToggle,
  replaying,
  onReplay,
}: Pick<DeliveriesViewProps, "openId" | "onToggle" | "replaying" | "onReplay"> & { deliveries: Delivery[]; caption: string }) {
  return (
    <table className="deliveries-table">
      <caption className="visually-hidden">{caption}</caption>
      <thead>
        <tr>
          <th scope="col">Event</th>
          <th scope="col">Made</th>
          <th scope="col">State</th>
          <th scope="col" className="num">
            Attempts
          </th>
          <th scope="col">Last answer</th>
          <th scope="col">
            <span className="visually-hidden">Actions</span>
          </th>
        </tr>
      </thead>
      <tbody>
        {deliveries.map((d) => {
          const open = d.id === openId;
          const made = isoOfMs(d.created_ms);
          const detailId = `delivery-${d.id}`;
          const what = `${d.event_type} of ${absoluteSeconds(made)}`;
          return (
            <Fragment key={d.id}>
              <tr className={open ? "delivery delivery-open" : "delivery"} data-delivery={d.id} data-state={d.state}>
                <td data-label="Event" className="delivery-event">
                  <code>{d.event_type}</code>
                  {d.owner && <span className="muted small"> about {d.owner}’s key</span>}
                </td>
                <td data-label="Made">
                  <time dateTime={made}>{absoluteSeconds(made)}</time>
                </td>
                <td data-label="State">
                  <span className="delivery-state">
                    <DeliveryStateBadge state={d.state} />
                    {d.state === "pending" && d.next_attempt_at_ms != null && (
                      <span className="small">
                        {d.replay_pending ? "replay" : "next attempt"}{" "}
                        <time dateTime={isoOfMs(d.next_attempt_at_ms)}>{absoluteSeconds(isoOfMs(d.next_attempt_at_ms))}</time>
                      </span>
                    )}
                  </span>
                </td>
                <td data-label="Attempts" className="num">
                  {d.attempts.length}
                  {d.replays > 0 && (
                    <span className="muted small">
                      {" "}
                      ({d.replays} {d.replays === 1 ? "replay" : "replays"})
                    </span>
                  )}
                </td>
                <td data-label="Last answer">
                  <LastAnswer a={lastAttempt(d)} />
                </td>
                <td className="row-actions">
                  <button
                    type="button"
                    className="button button-small"
                    aria-expanded={open}
                    {...(open ? { "aria-controls": detailId } : {})}
                    aria-label={`${open ? "Hide" : "Details"} of ${what}`}
                    onClick={() => {
                      onToggle(d.id);
                    }}
                  >
                    {open ? "Hide" : "Details"}
                  </button>
                  <button
                    type="button"
                    className="button button-small"
                    aria-label={`Replay ${what}`}
                    disabled={replaying === d.id}
                    onClick={() => {
                      onReplay(d);
                    }}
                  >
                    {replaying === d.id ? "Replaying…" : "Replay"}
                  </button>
                </td>
              </tr>
              {open && (
                <tr className="delivery-detail" id={detailId}>
                  <td colSpan={6}>
                    <DeliveryDetail d={d} />
                  </td>
                </tr>
              )}
            </Fragment>
          );
        })}
      </tbody>
    </table>
  );
}

/** "200", "503: the endpoint answered 503", "timed out", or that none was made yet. */
function LastAnswer({ a }: { a: Attempt | undefined }) {
  if (!a) return <span className="muted">no attempt yet</span>;
  return (
    <span className={succeeded(a) ? "last-answer" : "last-answer last-answer-failed"}>
      {a.status != null && <code className="status-code">{a.status}</code>}
      {a.error && <span className="small"> {a.error}</span>}
      {a.status == null && !a.error && <span className="muted">no answer</span>}
    </span>
  );
}

function DeliveryDetail({ d }: { d: Delivery }) {
  const attempts = [...d.attempts].reverse();
  return (
    <div className="delivery-body">
      <dl className="delivery-facts">
        <dt>Event id</dt>
        <dd>
          <code>{d.event_id}</code> <span className="muted small">(the webhook-id header of every attempt)</span>
        </dd>
        <dt>Event at</dt>
        <dd>
          <time dateTime={d.event_at}>{absoluteSeconds(d.event_at)}</time>
        </dd>
        {d.owner && (
          <>
            <dt>Owner</dt>
            <dd>{d.owner}</dd>
          </>
        )}
        <dt>Retries</dt>
        <dd>
          {d.tries} scheduled {d.tries === 1 ? "attempt" : "attempts"} since the last success or replay
        </dd>
      </dl>
      <h3>Attempts, newest first</h3>
      {attempts.length === 0 ? (
        <p className="muted">None yet: the first is due now.</p>
      ) : (
        <table className="attempts-table">
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Status</th>
              <th scope="col" className="num">
                Took
              </th>
              <th scope="col">Error</th>
              <th scope="col">Answer (start)</th>
              <th scope="col">Replay</th>
            </tr>
          </thead>
          <tbody>
            {attempts.map((a, i) => (
              <tr key={`${a.at}-${String(i)}`} className={succeeded(a) ? "attempt" : "attempt attempt-failed"}>
                <td data-label="When">
                  <time dateTime={a.at}>{absoluteSeconds(a.at)}</time>
                </td>
                <td data-label="Status">{a.status != null ? <code className="status-code">{a.status}</code> : <span className="muted">no answer</span>}</td>
                <td data-label="Took" className="num">
                  {durationText(a.duration_ms)}
                </td>
                <td data-label="Error">{a.error ?? <span className="muted">—</span>}</td>
                <td data-label="Answer (start)">
                  {a.response ? <code className="response-excerpt">{a.response}</code> : <span className="muted">empty</span>}
                </td>
                <td data-label="Replay">{a.replay ? "yes" : <span className="muted">no</span>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <figure className="snippet payload">
        <figcaption>
          Payload, as sent <CopyButton text={d.payload} label="Copy payload" />
        </figcaption>
        <pre>
          <code>{prettyJson(d.payload)}</code>
        </pre>
      </figure>
    </div>
  );
}
