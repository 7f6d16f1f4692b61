// A small inline chart of a key's recent requests: one bar per bucket, allowed at the
// bottom and refused stacked on top in the refusal colour, scaled so the busiest bucket
// reaches the top, with that peak written beside it (the scale). Its accessible name
// says the same in words: "24 h: 1 204 allowed, 37 refused; peak 96/h".
//
// It takes plain numbers per bucket, not a UsageSeries: today the row fetches a series
// per key (key-activity.tsx), later the key list may carry the figures itself; either
// way the bars are drawn from two arrays.
import { groupDigits } from "../lib/format";

const W = 96;
const H = 22;
/** Space between bars, when they are wide enough to spare it. */
const GAP = 1;

export interface SparkFigures {
  /** Allowed requests per bucket, oldest first. */
  allowed: number[];
  /** Refused requests (every kind of refusal) per bucket, the same buckets. */
  refused: number[];
}

/** Sums and the busiest bucket's total. */
export function sparkTotals({ allowed, refused }: SparkFigures): { allowed: number; refused: number; peak: number } {
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const peak = Math.max(0, ...allowed.map((a, i) => a + (refused[i] ?? 0)));
  return { allowed: sum(allowed), refused: sum(refused), peak };
}

/** "24 h: 1 204 allowed, 37 refused; peak 96/h". */
export function sparkLabel(f: SparkFigures, span: string, unit: string): string {
  const t = sparkTotals(f);
  return `${span}: ${groupDigits(t.allowed)} allowed, ${groupDigits(t.refused)} refused; peak ${groupDigits(t.peak)}/${unit}`;
}

/**
 * An SVG path of one bar per value, standing on `base` (the bars below it, 0 when none),
 * scaled so that `max` reaches the top. A value above zero is at least one pixel tall,
 * so a single refusal among thousands still shows.
 */
export function sparkBars(values: number[], base: number[], max: number, width = W, height = H): string {
  const n = values.length;
  if (n === 0 || max <= 0) return "";
  const slot = width / n;
  const bar = slot > 2 * GAP + 1 ? slot - GAP : slot;
  const scale = height / max;
  const px = (v: number) => (v > 0 ? Math.max(1, v * scale) : 0);
  return values
    .flatMap((v, i) => {
      if (v <= 0) return [];
      const below = px(base[i] ?? 0);
      const h = px(v);
      const x = i * slot;
      const y = height - below - h;
      return [`M${x.toFixed(1)} ${y.toFixed(1)}h${bar.toFixed(1)}v${h.toFixed(1)}h${(-bar).toFixed(1)}z`];
    })
    .join("");
}

export function Sparkline({
  allowed,
  refused,
  span = "24 h",
  unit = "h",
}: SparkFigures & {
  /** What the buckets cover together, for the label ("24 h"). */
  span?: string;
  /** One bucket, for the peak's rate ("h": "96/h"). */
  unit?: string;
}) {
  const { peak } = sparkTotals({ allowed, refused });
  const label = sparkLabel({ allowed, refused }, span, unit);
  return (
    <span className="spark">
      <svg className="sparkline" role="img" aria-label={label} width={W} height={H} viewBox={`0 0 ${W} ${H}`}>
        <title>{label}</title>
        <line className="spark-base" x1={0} x2={W} y1={H - 0.5} y2={H - 0.5} />
        <path className="spark-allowed" d={sparkBars(allowed, [], peak)} />
        <path className="spark-refused" d={sparkBars(refused, allowed, peak)} />
      </svg>
      {/* The scale: what the top of the bars stands for. */}
      <span className="spark-peak" aria-hidden="true">
        {groupDigits(peak)}/{unit}
      </span>
    </span>
  );
}
