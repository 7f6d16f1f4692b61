// Admin: everyone's usage over a chosen range, the busiest keys and owners, and the
// keys nobody used for a while.
import { useState } from "react";
import { Link } from "react-router-dom";
import { QueryView, fromQuery } from "../components/query-view";
import { StaleKeys } from "../components/stale-keys";
import { TopTable } from "../components/top-table";
import { RangePicker, UsageChart, rangeLabel } from "../components/usage-chart";
import { keyHref, ownerHref } from "../lib/links";
import { useAllUsage } from "../lib/queries/usage";
import type { RangePreset } from "../lib/usage";

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
      <QueryView what="usage" {...fromQuery(usage)}>
        {(data) => (
          <>
            <section className="panel usage-panel" aria-label="All requests">
              <UsageChart series={data.series} title={`All requests over the last ${rangeLabel(range)}`} />
            </section>
            <p className="muted small">
              The busiest keys and owners are counted over the whole days the range touches (UTC).
            </p>
            <div className="usage-tops">
              <TopTable
                id="top-keys"
                title="Busiest keys"
                rows={data.top_keys}
                rowKey={(k) => k.id}
                totals={(k) => k.totals}
                columns={[
                  {
                    head: "Key",
                    cell: (k) =>
                      k.owner === undefined ? (
                        <span className="muted" title={k.id}>
                          deleted key <code>{k.id}</code>
                        </span>
                      ) : (
                        <Link to={keyHref("any", k.id)}>{k.name ?? k.id}</Link>
                      ),
                  },
                  {
                    head: "Owner",
                    cell: (k) => (k.owner === undefined ? "—" : <Link to={ownerHref(k.owner)}>{k.owner}</Link>),
                  },
                ]}
              />
              <TopTable
                id="top-owners"
                title="Busiest owners"
                rows={data.top_owners}
                rowKey={(o) => o.owner}
                totals={(o) => o.totals}
                columns={[{ head: "Owner", cell: (o) => <Link to={ownerHref(o.owner)}>{o.owner}</Link> }]}
              />
            </div>
          </>
        )}
      </QueryView>
      <StaleKeys />
    </section>
  );
}
