// A small inline chart of a series: requests per bucket as a line, refusals as a second
// line in the warning colour when there are any. Decorative: the cell says the figures.
import type { UsageSeries } from "../lib/schemas";
import { refusals, total } from "../lib/usage";

const W = 96;
const H = 24;

/** SVG points of `values` scaled into the box (0 at the bottom, the largest at the top). */
export function sparkPoints(values: number[], max: number): string {
  if (values.length === 0) return "";
  const dx = values.length > 1 ? W / (values.length - 1) : 0;
  const scale = max > 0 ? (H - 2) / max : 0;
  return values.map((v, i) => `${(i * dx).toFixed(1)},${(H - 1 - v * scale).toFixed(1)}`).join(" ");
}

export function Sparkline({ series }: { series: UsageSeries }) {
  const all = series.points.map(total);
  const refused = series.points.map(refusals);
  const max = Math.max(0, ...all);
  return (
    <svg className="sparkline" width={W} height={H} viewBox={`0 0 ${W} ${H}`} aria-hidden="true" focusable="false">
      <polyline className="spark-all" points={sparkPoints(all, max)} />
      {refused.some((v) => v > 0) && <polyline className="spark-refused" points={sparkPoints(refused, max)} />}
    </svg>
  );
}
