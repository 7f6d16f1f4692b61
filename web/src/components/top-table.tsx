// A "busiest …" table of the usage page: a heading, the label columns given, then each
// row's requests, allowed and refused; "No requests." when there are no rows.
import type { ReactNode } from "react";
import { groupDigits } from "../lib/format";
import type { OutcomeCounts } from "../lib/schemas";
import { refusals, total } from "../lib/usage";

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

export interface TopColumn<T> {
  /** The column's heading, and its cells' label on a phone. */
  head: string;
  cell: (row: T) => ReactNode;
}

export function TopTable<T>({
  id,
  title,
  rows,
  rowKey,
  columns,
  totals,
}: {
  /** The heading's id, which names the section. */
  id: string;
  title: string;
  rows: T[];
  rowKey: (row: T) => string;
  columns: TopColumn<T>[];
  totals: (row: T) => OutcomeCounts;
}) {
  return (
    <section aria-labelledby={id}>
      <h2 id={id}>{title}</h2>
      {rows.length === 0 ? (
        <p className="muted">No requests.</p>
      ) : (
        <table>
          <thead>
            <tr>
              {columns.map((c) => (
                <th key={c.head} scope="col">
                  {c.head}
                </th>
              ))}
              {figureHeads}
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => (
              <tr key={rowKey(row)}>
                {columns.map((c) => (
                  <td key={c.head} data-label={c.head}>
                    {c.cell(row)}
                  </td>
                ))}
                <Figures totals={totals(row)} />
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
