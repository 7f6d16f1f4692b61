// A key's last 24 h in the list: requests and refusals, and a sparkline of allowed and
// refused per hour — from the list itself (each key's `activity`), so the list asks for
// nothing more. A key the list sends no activity for made no request in 24 hours.
import { groupDigits } from "../lib/format";
import type { Activity } from "../lib/schemas";
import { type SparkFigures, Sparkline } from "./sparkline";

/** The list's own figures: hour by hour, [allowed, refused]. */
export function activityFigures(a: Activity): SparkFigures {
  return { allowed: a.hourly.map((h) => h[0] ?? 0), refused: a.hourly.map((h) => h[1] ?? 0) };
}

export function KeyActivity({ activity }: { activity?: Activity | undefined }) {
  const used = activity !== undefined && activity.requests > 0;
  return (
    <span className="key-activity">
      {used && <Sparkline {...activityFigures(activity)} />}
      <Figures n={activity?.requests ?? 0} r={activity?.refusals ?? 0} withChart={used} />
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
