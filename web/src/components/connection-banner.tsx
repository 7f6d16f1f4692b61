// "Cannot reach keygate": said once, above every page, while what is on screen could not
// be refreshed because keygate did not answer. It says how old the screen is, to the
// second and ticking, since the pages' own "just now" and "5 minutes ago" were true when
// they were loaded and nothing can refresh them meanwhile; it goes by itself once an
// answer comes back.
import { useEffect, useState } from "react";
import { relative } from "../lib/format";
import { useConnection } from "../lib/queries/connection";
import "./console.css";

/** "8 s ago", "3 min ago", "2 h 5 min ago"; past a day, "3 days ago". */
export function age(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s} s ago`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 === 0 ? `${h} h ago` : `${h} h ${m % 60} min ago`;
  return relative(new Date(Date.now() - ms).toISOString());
}

/** The time of day (with the date when it was not today), to the second. */
export function loadedTime(at: number, now: number): string {
  const d = new Date(at);
  const sameDay = d.toDateString() === new Date(now).toDateString();
  return d.toLocaleString(undefined, {
    ...(sameDay ? {} : { year: "numeric", month: "short", day: "numeric" }),
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  });
}

/** The time, every second, while `on`. */
function useTicking(on: boolean): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!on) return;
    const tick = () => {
      setNow(Date.now());
    };
    tick();
    const t = setInterval(tick, 1000);
    return () => {
      clearInterval(t);
    };
  }, [on]);
  return now;
}

export function ConnectionBanner() {
  const { down, loadedAt, retry } = useConnection();
  const now = useTicking(down);
  const shown = down && loadedAt !== null;
  return (
    <div className={shown ? "notice notice-warn connection-banner" : "connection-banner-idle"} data-testid="connection">
      <p>
        {/* The live region is always in the document (screen readers announce changes to
            regions they already know), and holds what does not change while it is up: the
            age beside it ticks every second, and would be read out every second. */}
        <span role="status" aria-live="polite">
          {shown && (
            <>
              <strong>Cannot reach keygate</strong> — showing what was loaded at{" "}
              <time dateTime={new Date(loadedAt).toISOString()}>{loadedTime(loadedAt, now)}</time>
            </>
          )}
        </span>
        {shown && (
          <>
            {" "}
            <span className="connection-age">({age(now - loadedAt)})</span>. Nothing can be saved until it answers
            again.
          </>
        )}
      </p>
      {shown && (
        <button type="button" className="button button-small" onClick={retry}>
          Try again
        </button>
      )}
    </div>
  );
}
