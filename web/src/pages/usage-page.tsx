// Admin: the console's overview, where an admin lands: everyone's usage over a chosen
// range, the busiest keys and owners and, apart, the most refused ones (each kind of
// refusal counted apart, all over exactly that range), and the keys nobody used for a
// while.
import { useState } from "react";
import { Link } from "react-router-dom";
import { QueryView, fromQuery } from "../components/query-view";
import { StaleKeys } from "../components/stale-keys";
import { type TopColumn, TopTable } from "../components/top-table";
import { RangePicker, UsageChart, rangeLabel } from "../components/usage-chart";
import { keyHref, ownerHref } from "../lib/links";
import { useAllUsage } from "../lib/queries/usage";
import type { AllUsage } from "../lib/schemas";
import type { RangePreset } from "../lib/usage";
import "./usage-page.css";

type TopKey = AllUsage["top_keys"][number];
type TopOwner = AllUsage["top_owners"][number];

/** A key of a top list: a link to its page, or its id once it was deleted. */
const keyColumns: TopColumn<TopKey>[] = [
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
];

const ownerColumns: TopColumn<TopOwner>[] = [
  { head: "Owner", cell: (o) => <Link to={ownerHref(o.owner)}>{o.owner}</Link> },
];

/** What every top list of keys, and of owners, shows: each kind of refusal apart. */
const keyLists = { rowKey: (k: TopKey) => k.id, totals: (k: TopKey) => k.totals, columns: keyColumns, breakdown: true };
const ownerLists = {
  rowKey: (o: TopOwner) => o.owner,
  totals: (o: TopOwner) => o.totals,
  columns: ownerColumns,
  breakdown: true,
};

export function UsagePage() {
  const [range, setRange] = useState<RangePreset>("24h");
  const usage = useAllUsage(range);
  return (
    <section className="page usage-page">
      <div className="page-head">
        <h1>Overview</h1>
        <RangePicker value={range} onChange={setRange} />
      </div>
      <QueryView what="usage" {...fromQuery(usage)}>
        {(data) => (
          <>
            <section className="panel usage-panel" aria-label="Everyone’s requests">
              <UsageChart series={data.series} title={`All requests over the last ${rangeLabel(range)}`} />
            </section>
            <p className="muted small">
              The lists below count exactly the chosen range, the last {rangeLabel(range)}, as the chart does. Each
              kind of refusal is counted apart.
            </p>
            <div className="usage-tops">
              <TopTable id="top-keys" title="Busiest keys" rows={data.top_keys} {...keyLists} />
              <TopTable id="top-owners" title="Busiest owners" rows={data.top_owners} {...ownerLists} />
            </div>
            <div className="usage-tops usage-tops-refused">
              <TopTable
                id="top-refused-keys"
                title="Most refused keys"
                rows={data.top_refused_keys}
                {...keyLists}
                empty="No refusals."
              />
              <TopTable
                id="top-refused-owners"
                title="Most refused owners"
                rows={data.top_refused_owners}
                {...ownerLists}
                empty="No refusals."
              />
            </div>
          </>
        )}
      </QueryView>
      <StaleKeys />
    </section>
  );
}
