// A key's last 24 h in the list: requests and refusals (from the owner's per-key totals,
// one request per page of keys) and a sparkline of allowed and refused per hour, fetched
// only for rows on screen and only for keys that were used at all. The sparkline is
// given plain numbers per bucket (sparkline.tsx), so where they come from can change:
// a server that sends each key's last 24 h with the list (`activity`) saves the fetch.
import { useEffect, useRef, useState } from "react";
import { groupDigits } from "../lib/format";
import type { KeyScope } from "../lib/queries/scope";
import { useKeySparkline } from "../lib/queries/usage";
import type { Activity, OutcomeCounts, UsageSeries } from "../lib/schemas";
import { refusals, total } from "../lib/usage";
import { type SparkFigures, Sparkline } from "./sparkline";

/** A series' buckets as the sparkline draws them: allowed, and every refusal together. */
export function sparkFigures(series: UsageSeries): SparkFigures {
  return { allowed: series.points.map((p) => p.allowed), refused: series.points.map(refusals) };
}

/** The list's own figures: hour by hour, [allowed, refused]. */
export function activityFigures(a: Activity): SparkFigures {
  return { allowed: a.hourly.map((h) => h[0] ?? 0), refused: a.hourly.map((h) => h[1] ?? 0) };
}

const unitOf = { minute: "min", hour: "h", day: "day" } as const;

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

export function KeyActivity({
  scope,
  id,
  totals,
  activity,
}: {
  scope: KeyScope;
  id: string;
  totals: OutcomeCounts | undefined;
  /** The key's last 24 h as the list sent it, when it does. */
  activity?: Activity | undefined;
}) {
  const [ref, seen] = useSeen<HTMLSpanElement>();
  const used = activity ? activity.requests > 0 : totals !== undefined && total(totals) > 0;
  const spark = useKeySparkline(scope, id, seen && used && !activity);
  if (activity) {
    const figures = activityFigures(activity);
    return (
      <span className="key-activity" ref={ref}>
        {used && <Sparkline {...figures} />}
        <Figures n={activity.requests} r={activity.refusals} withChart={used} />
      </span>
    );
  }
  // The span is always there, so the observer has something to watch.
  if (totals === undefined)
    return (
      <span className="key-activity muted" ref={ref}>
        —
      </span>
    );
  const data = used ? spark.data : undefined;
  return (
    <span className="key-activity" ref={ref}>
      {data && <Sparkline {...sparkFigures(data)} unit={unitOf[data.step]} />}
      <Figures n={total(totals)} r={refusals(totals)} withChart={data !== undefined} />
    </span>
  );
}

/** "1 204 requests", or "37 of 1 204 refused": both figures in a narrow column. */
function Figures({ n, r, withChart }: { n: number; r: number; withChart: boolean }) {
  return (
    // With the sparkline there, its name says all of this (and the peak): read once.
    <span className="activity-figures nowrap" aria-hidden={withChart ? true : undefined}>
      {n === 0 ? (
        <span className="muted">no requests</span>
      ) : r > 0 ? (
        <span className="warn">
          {groupDigits(r)} of {groupDigits(n)} refused
        </span>
      ) : (
        <>
          {groupDigits(n)} {n === 1 ? "request" : "requests"}
        </>
      )}
    </span>
  );
}
