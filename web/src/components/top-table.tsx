// A "busiest …" table of the usage page: a heading, the label columns given, then each
// row's requests, allowed and refused; "No requests." when there are no rows. A label
// too long for its column (an owner's e-mail address, a key's name) ends in "…" with
// the whole of it in the tooltip; it is never broken inside a word.
import type { ReactNode } from "react";
import "./top-table.css";
import { groupDigits } from "../lib/format";
import type { OutcomeCounts } from "../lib/schemas";
import { refusals, total } from "../lib/usage";
import { RefusalKinds } from "./refusal-kinds";

/**
 * A label cell's content on one line. Its tooltip is the text it shows, whatever the
 * column renders (a link, a name and a hint), read from the element once it is drawn.
 */
function Label({ children }: { children: ReactNode }) {
  return (
    <span
      className="top-label"
      ref={(el) => {
        if (el) el.title = el.textContent.trim();
      }}
    >
      {children}
    </span>
  );
}

function Figures({ totals, breakdown }: { totals: OutcomeCounts; breakdown: boolean }) {
  const r = refusals(totals);
  return (
    <>
      <td data-label="Requests" className="num">
        {groupDigits(total(totals))}
      </td>
      <td data-label="Allowed" className="num">
        {groupDigits(totals.allowed)}
      </td>
      <td data-label="Refused" className={r > 0 ? "num warn top-refused" : "num top-refused"}>
        {groupDigits(r)}
        {breakdown && <RefusalKinds totals={totals} />}
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
  breakdown = false,
  empty = "No requests.",
}: {
  /** The heading's id, which names the section. */
  id: string;
  title: string;
  rows: T[];
  rowKey: (row: T) => string;
  columns: TopColumn<T>[];
  totals: (row: T) => OutcomeCounts;
  /** Each kind of refusal apart under the refusals' count (refusal-kinds.tsx). */
  breakdown?: boolean;
  /** Said instead of the table when there are no rows. */
  empty?: string;
}) {
  return (
    <section className="top-section" aria-labelledby={id}>
      <h2 id={id}>{title}</h2>
      {rows.length === 0 ? (
        <p className="muted">{empty}</p>
      ) : (
        <table className={breakdown ? "top-table top-breakdown" : "top-table"}>
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
                    <Label>{c.cell(row)}</Label>
                  </td>
                ))}
                <Figures totals={totals(row)} breakdown={breakdown} />
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
