// A key's or an owner's limits in a few short lines: "100/1m · 5 000/1h", "9 950 credits
// left", "refills 10 000 monthly"; "unlimited" without any.
import { Fragment } from "react";
import { creditsLeft, groupDigits, refillSummary } from "../lib/format";
import type { Limits } from "../lib/schemas";

export function LimitsSummary({ limits }: { limits: Limits }) {
  const { rate_limits: rates, credits } = limits;
  if (rates.length === 0 && !credits) return <span className="muted">unlimited</span>;
  return (
    <span className="limits-summary">
      {rates.length > 0 && (
        <span className="rate-limits" title={rates.map((r) => `${r.name}: ${r.limit} per ${r.window}`).join("\n")}>
          {/* Each limit stays on one line; a narrow column wraps between them. */}
          {rates.map((r, i) => (
            <Fragment key={r.name}>
              {i > 0 && " · "}
              <span className="nowrap">{`${groupDigits(r.limit)}/${r.window}`}</span>
            </Fragment>
          ))}
        </span>
      )}
      {credits && (
        <span className={credits.remaining === 0 ? "credits nowrap warn" : "credits nowrap"}>
          {credits.remaining === 0 ? `⚠ ${creditsLeft(credits)}` : creditsLeft(credits)}
        </span>
      )}
      {credits?.refill && <span className="refill muted">{refillSummary(credits.refill)}</span>}
    </span>
  );
}
