// The key page's "Recent requests": the last requests the gate decided with the key,
// newest first — when (local time to the second, the full date in the tooltip), the
// outcome (a refusal looks like one: the danger colours and its kind's chart colour),
// method, host, path (never its query string: the server keeps none) and the client's
// address. A dense table on a desk; below 720 px each request is a short stacked entry,
// nothing wider than the screen. Read every 5 s while the page is shown
// (queries/recent.ts); deliberately not a live region, which would read the whole
// table out every few seconds.
import "./recent-requests.css";
import { absoluteSeconds } from "../lib/format";
import { useRecentRequests } from "../lib/queries/recent";
import type { KeyScope } from "../lib/queries/scope";
import type { RecentPage, RecentRequest } from "../lib/schemas";
import { outcomes } from "../lib/usage";
import { QueryView, fromQuery } from "./query-view";

/** "just now", "12 s ago", "3 min ago", "2 h ago", "4 d ago" (a clock a little ahead reads "just now"). */
export function ago(at: number, now: number): string {
  const s = Math.round((now - at) / 1000);
  if (s < 5) return "just now";
  if (s < 60) return `${s} s ago`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h} h ago`;
  return `${Math.floor(h / 24)} d ago`;
}

const sameDay = (a: Date, b: Date) =>
  a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();

/** "14:03:05" today, "6 Dec, 14:03:05" before: the browser's locale and zone. */
export function clock(at: number, now: number): string {
  const d = new Date(at);
  const time: Intl.DateTimeFormatOptions = { hour: "2-digit", minute: "2-digit", second: "2-digit" };
  return sameDay(d, new Date(now))
    ? d.toLocaleTimeString(undefined, time)
    : d.toLocaleString(undefined, { month: "short", day: "numeric", ...time });
}

/** The outcome in words and in its chart colour; an outcome this UI does not know is shown as sent. */
function Outcome({ outcome }: { outcome: string }) {
  const known = outcomes.find((o) => o.key === outcome);
  const kind = known ? (outcome === "allowed" ? "outcome-allowed" : "outcome-refusal") : "outcome-other";
  return (
    <span className={`outcome ${kind}`}>
      {known && <span className={`swatch swatch-${known.key}`} aria-hidden="true" />}
      {known?.label ?? outcome}
    </span>
  );
}

/** Text on one line, cut with "…" when it does not fit; the whole of it in the tooltip. */
function Clipped({ text, code = false }: { text: string; code?: boolean }) {
  return code ? (
    <code className="recent-clip" title={text}>
      {text}
    </code>
  ) : (
    <span className="recent-clip" title={text}>
      {text}
    </span>
  );
}

function Row({ r, now }: { r: RecentRequest; now: number }) {
  const iso = new Date(r.at_ms).toISOString();
  return (
    <tr className={r.outcome === "allowed" ? undefined : "is-refusal"}>
      <td data-label="Time" className="recent-time">
        <time dateTime={iso} title={absoluteSeconds(iso)}>
          {clock(r.at_ms, now)}
        </time>{" "}
        <span className="muted small">{ago(r.at_ms, now)}</span>
      </td>
      <td data-label="Outcome" className="recent-outcome">
        <Outcome outcome={r.outcome} />
      </td>
      <td data-label="Method" className="recent-method">
        <code>{r.method}</code>
      </td>
      <td data-label="Host" className="recent-host">
        <Clipped text={r.host} />
      </td>
      <td data-label="Path" className="recent-path">
        <Clipped text={r.path} code />
      </td>
      <td data-label="Client" className="recent-client">
        <Clipped text={r.client} />
      </td>
    </tr>
  );
}

/** How many are shown, and how many the server keeps. */
function shownLine(page: RecentPage): string {
  const n = page.requests.length;
  const shown = n === 1 ? "The last request" : `The last ${n} requests`;
  return `${shown}, newest first · keygate keeps the last ${page.kept} per key · refreshed every 5 s`;
}

/** The panel's content for one answer (pure: the tests hand it fixtures). */
export function RecentRequestsView({ page, now }: { page: RecentPage; now: number }) {
  if (page.kept === 0)
    return (
      <p className="empty recent-none">
        This keygate keeps no recent requests (<code>analytics.recent_requests = 0</code>).
      </p>
    );
  if (page.requests.length === 0) return <p className="empty recent-none">No requests with this key yet.</p>;
  return (
    <>
      <p className="muted small recent-shown">{shownLine(page)}</p>
      <table className="recent-table">
        <caption className="visually-hidden">Recent requests with this key, newest first</caption>
        <thead>
          <tr>
            <th scope="col" className="recent-time">
              Time
            </th>
            <th scope="col" className="recent-outcome">
              Outcome
            </th>
            <th scope="col" className="recent-method">
              Method
            </th>
            <th scope="col" className="recent-host">
              Host
            </th>
            <th scope="col" className="recent-path">
              Path
            </th>
            <th scope="col" className="recent-client">
              Client
            </th>
          </tr>
        </thead>
        <tbody>
          {page.requests.map((r, i) => (
            // A request has no id of its own (`id` is the key's): its time and place do.
            <Row key={`${r.at_ms}-${i}`} r={r} now={now} />
          ))}
        </tbody>
      </table>
    </>
  );
}

/** The panel: heading, and the key's last requests, read again every 5 s. */
export function RecentRequests({ scope, id, enabled = true }: { scope: KeyScope; id: string; enabled?: boolean }) {
  const recent = useRecentRequests(scope, id, enabled);
  return (
    <section className="panel recent-panel" aria-labelledby="recent-title">
      <div className="panel-head">
        <h2 id="recent-title">Recent requests</h2>
      </div>
      <QueryView what="recent requests" {...fromQuery(recent)}>
        {/* "12 s ago" as of the last answer, which comes every 5 s. */}
        {(page) => <RecentRequestsView page={page} now={recent.dataUpdatedAt} />}
      </QueryView>
    </section>
  );
}
