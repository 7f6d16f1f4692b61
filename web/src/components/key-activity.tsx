// A key's last 24 h in the list: requests and refusals (from the owner's per-key totals,
// one request per page of keys) and a sparkline, fetched only for rows on screen and only
// for keys that were used at all.
import { useEffect, useRef, useState } from "react";
import { groupDigits } from "../lib/format";
import type { KeyScope } from "../lib/queries/scope";
import { useKeySparkline } from "../lib/queries/usage";
import type { OutcomeCounts } from "../lib/schemas";
import { refusals, total } from "../lib/usage";
import { Sparkline } from "./sparkline";

/** Whether the element has come into view (once it has, it stays true). */
function useSeen<T extends Element>(): [React.RefObject<T | null>, boolean] {
  const ref = useRef<T>(null);
  const [seen, setSeen] = useState(typeof IntersectionObserver === "undefined");
  useEffect(() => {
    const el = ref.current;
    if (seen || !el) return;
    const io = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) setSeen(true);
    });
    io.observe(el);
    return () => {
      io.disconnect();
    };
  }, [seen]);
  return [ref, seen];
}

export function KeyActivity({ scope, id, totals }: { scope: KeyScope; id: string; totals: OutcomeCounts | undefined }) {
  const [ref, seen] = useSeen<HTMLSpanElement>();
  const used = totals !== undefined && total(totals) > 0;
  const spark = useKeySparkline(scope, id, seen && used);
  // The span is always there, so the observer has something to watch.
  if (totals === undefined)
    return (
      <span className="key-activity muted" ref={ref}>
        —
      </span>
    );
  const n = total(totals);
  const r = refusals(totals);
  return (
    <span className="key-activity" ref={ref}>
      {used && spark.data && <Sparkline series={spark.data} />}
      <span className="nowrap">
        {n === 0 ? (
          <span className="muted">no requests</span>
        ) : (
          <>
            {groupDigits(n)} {n === 1 ? "request" : "requests"}
          </>
        )}
      </span>
      {r > 0 && <span className="warn nowrap">{groupDigits(r)} refused</span>}
    </span>
  );
}
