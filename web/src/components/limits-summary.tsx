// A key's or an owner's limits in a line or two: "100/1m · 5 000/1h", "9 950 credits
// left · refills 10 000 monthly"; "unlimited" without any.
import { creditsLeft, rateLimitsSummary, refillSummary } from "../lib/format";
import type { Limits } from "../lib/schemas";

export function LimitsSummary({ limits }: { limits: Limits }) {
  const { rate_limits: rates, credits } = limits;
  if (rates.length === 0 && !credits) return <span className="muted">unlimited</span>;
  return (
    <span className="limits-summary">
      {rates.length > 0 && (
        <span className="rate-limits" title={rates.map((r) => `${r.name}: ${r.limit} per ${r.window}`).join("\n")}>
          {rateLimitsSummary(rates)}
        </span>
      )}
      {credits && (
        <span className="credits">
          {credits.remaining === 0 ? <span className="warn">⚠ {creditsLeft(credits)}</span> : creditsLeft(credits)}
          {credits.refill && <span className="muted"> · {refillSummary(credits.refill)}</span>}
        </span>
      )}
    </span>
  );
}
