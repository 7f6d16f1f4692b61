// Each kind of refusal apart, for a count of refusals: "4 forbidden", "3 refused",
// "2 rate limited", "1 usage exceeded" (only the kinds there were), each beside its
// chart colour, so the overview's "Most refused" lists say why, not only how many.
import "./refusal-kinds.css";
import { groupDigits } from "../lib/format";
import type { OutcomeCounts } from "../lib/schemas";
import { outcomes } from "../lib/usage";

/** What each kind means, for its tooltip (the chart's legend uses the same words). */
const meaning: Record<string, string> = {
  forbidden: "refused by the key's rules (host, path or method)",
  refused: "the key was disabled, expired or past its rotation grace",
  rate_limited: "over a rate limit",
  usage_exceeded: "no credits left",
};

export function RefusalKinds({ totals }: { totals: OutcomeCounts }) {
  const kinds = outcomes.filter((o) => o.key !== "allowed" && totals[o.key] > 0);
  if (kinds.length === 0) return null;
  return (
    <ul className="refusal-kinds">
      {kinds.map((o) => (
        <li key={o.key} title={meaning[o.key]}>
          {groupDigits(totals[o.key])} {o.label.toLowerCase()}
          <span className={`swatch swatch-${o.key}`} aria-hidden="true" />
        </li>
      ))}
    </ul>
  );
}
