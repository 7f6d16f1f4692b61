// Admin: everyone's usage over a chosen range, the busiest keys and owners, and the
// keys nobody used for a while.
import { useState } from "react";
import { Link } from "react-router-dom";
import { StaleKeys } from "../components/stale-keys";
import { ErrorNote, Loading } from "../components/state";
import { RangePicker, UsageChart, rangeLabel } from "../components/usage-chart";
import { groupDigits } from "../lib/format";
import { keyHref, ownerHref } from "../lib/links";
import { useAllUsage } from "../lib/queries";
import type { OutcomeCounts } from "../lib/schemas";
import { type RangePreset, refusals, total } from "../lib/usage";

function Figures({ totals }: { totals: OutcomeCounts }) {
  const r = refusals(totals);
  return (
    <>
      <td data-label="Requests" className="num">
        {groupDigits(total(totals))}
      </td>
      <td data-label="Allowed" className="num">
        {groupDigits(totals.allowed)}
      </td>
      <td data-label="Refused" className={r > 0 ? "num warn" : "num"}>
        {groupDigits(r)}
      </td>
    </>
  );
}

const figureHeads = (
  <>
    <th scope="col" className="num">
      Requests
    </th>
    <th scope="col" className="num">
      Allowed
    </th>
    <th scope="col" className="num">
      Refused
    </th>
  </>
);

export function UsagePage() {
  const [range, setRange] = useState<RangePreset>("24h");
  const usage = useAllUsage(range);
  return (
    <section className="page usage-page">
      <nav className="breadcrumbs" aria-label="Breadcrumbs">
        <Link to="/admin">Owners</Link> <span aria-hidden="true">›</span> <span>Usage</span>
      </nav>
      <div className="page-head">
        <h1>Everyone&apos;s usage</h1>
        <RangePicker value={range} onChange={setRange} />
      </div>
      {usage.isPending ? (
        <Loading what="usage" />
      ) : usage.isError ? (
        <ErrorNote
          error={usage.error}
          onRetry={() => {
            void usage.refetch();
          }}
        />
      ) : (
        <>
          <section className="panel usage-panel" aria-label="All requests">
            <UsageChart series={usage.data.series} title={`All requests over the last ${rangeLabel(range)}`} />
          </section>
          <p className="muted small">
            The busiest keys and owners are counted over the whole days the range touches (UTC).
          </p>
          <div className="usage-tops">
            <section aria-labelledby="top-keys">
              <h2 id="top-keys">Busiest keys</h2>
              {usage.data.top_keys.length === 0 ? (
                <p className="muted">No requests.</p>
              ) : (
                <table>
                  <thead>
                    <tr>
                      <th scope="col">Key</th>
                      <th scope="col">Owner</th>
                      {figureHeads}
                    </tr>
                  </thead>
                  <tbody>
                    {usage.data.top_keys.map((k) => (
                      <tr key={k.id}>
                        <td data-label="Key">
                          {k.owner === undefined ? (
                            <span className="muted" title={k.id}>
                              deleted key <code>{k.id}</code>
                            </span>
                          ) : (
                            <Link to={keyHref("any", k.id)}>{k.name ?? k.id}</Link>
                          )}
                        </td>
                        <td data-label="Owner">
                          {k.owner === undefined ? "—" : <Link to={ownerHref(k.owner)}>{k.owner}</Link>}
                        </td>
                        <Figures totals={k.totals} />
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            </section>
            <section aria-labelledby="top-owners">
              <h2 id="top-owners">Busiest owners</h2>
              {usage.data.top_owners.length === 0 ? (
                <p className="muted">No requests.</p>
              ) : (
                <table>
                  <thead>
                    <tr>
                      <th scope="col">Owner</th>
                      {figureHeads}
                    </tr>
                  </thead>
                  <tbody>
                    {usage.data.top_owners.map((o) => (
                      <tr key={o.owner}>
                        <td data-label="Owner">
                          <Link to={ownerHref(o.owner)}>{o.owner}</Link>
                        </td>
                        <Figures totals={o.totals} />
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            </section>
          </div>
        </>
      )}
      <StaleKeys />
    </section>
  );
}
