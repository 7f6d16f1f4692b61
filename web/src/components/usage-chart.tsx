// A usage series as stacked bars by outcome (uPlot on a canvas), with its figures as a
// table for screen readers and anyone who wants the numbers. The colours come from the
// page's CSS variables, so the chart follows light and dark mode.
import { useEffect, useRef, useState } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { axisDate, groupDigits } from "../lib/format";
import type { UsageSeries } from "../lib/schemas";
import { type RangePreset, bucketLabel, outcomes, rangePresets, refusals, total } from "../lib/usage";

const HEIGHT = 220;

function cssVar(name: string, fallback: string): string {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

/** Follows the system's colour scheme, so the canvas is drawn again on a change. */
function useDark(): boolean {
  const [query] = useState(() =>
    typeof window.matchMedia === "function" ? window.matchMedia("(prefers-color-scheme: dark)") : null,
  );
  const [dark, setDark] = useState(query?.matches ?? false);
  useEffect(() => {
    if (!query) return;
    const on = (e: MediaQueryListEvent) => {
      setDark(e.matches);
    };
    query.addEventListener("change", on);
    return () => {
      query.removeEventListener("change", on);
    };
  }, [query]);
  return dark;
}

/** uPlot's columns: times in seconds, then each outcome stacked on the ones below, top first. */
function columns(s: UsageSeries): uPlot.AlignedData {
  const xs = s.points.map((p) => Date.parse(p.t) / 1000);
  const stacked: number[][] = [];
  let below = s.points.map(() => 0);
  for (const o of outcomes) {
    below = s.points.map((p, i) => (below[i] ?? 0) + p[o.key]);
    stacked.push(below);
  }
  return [xs, ...stacked.reverse()];
}

function Canvas({ series, label }: { series: UsageSeries; label: string }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const dark = useDark();
  const [hover, setHover] = useState<number | null>(null);

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const text = cssVar("--muted", dark ? "#9aa4b2" : "#5b6472");
    const grid = cssVar("--border", dark ? "#343b46" : "#d5dae1");
    const bars = uPlot.paths.bars?.({ size: [0.8, 40], gap: 1 });
    const top = [...outcomes].reverse();
    const half = { minute: 30, hour: 1800, day: 43_200 }[series.step];
    const axis = { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height: HEIGHT,
      legend: { show: false },
      // Axis dates in the browser's locale and time zone, as the table writes them.
      fmtDate: axisDate,
      cursor: { y: false, drag: { x: false, y: false } },
      scales: {
        // Half a bucket either side, so the first and last bars are whole.
        x: { time: true, range: (_u, min, max) => [min - half, max + half] },
        y: { range: (_u, _min, max) => [0, Math.max(4, Math.ceil(max * 1.1))] },
      },
      axes: [
        axis,
        {
          ...axis,
          size: 50,
          values: (_u, splits) => splits.map((v) => (Number.isInteger(v) ? groupDigits(v) : "")),
        },
      ],
      series: [
        {},
        ...top.map((o) => ({
          label: o.label,
          fill: cssVar(o.color, "#888"),
          stroke: cssVar(o.color, "#888"),
          width: 0,
          ...(bars ? { paths: bars } : {}),
          points: { show: false },
        })),
      ],
      hooks: {
        setCursor: [
          (u) => {
            setHover(u.cursor.idx ?? null);
          },
        ],
      },
    };
    const u = new uPlot(opts, columns(series), el);
    plot.current = u;
    const resize =
      typeof ResizeObserver === "undefined"
        ? null
        : new ResizeObserver(() => {
            u.setSize({ width: Math.max(200, el.clientWidth), height: HEIGHT });
          });
    resize?.observe(el);
    return () => {
      resize?.disconnect();
      u.destroy();
      plot.current = null;
    };
    // Drawn again for a new series (a new range or fresh figures) or colour scheme.
  }, [series, dark]);

  const point = hover === null ? undefined : series.points[hover];
  return (
    <>
      <div className="usage-canvas" ref={box} role="img" aria-label={label} />
      <p className="usage-hover muted small" aria-hidden="true">
        {point
          ? `${bucketLabel(point.t, series.step)}: ${outcomes
              .map((o) => `${o.label.toLowerCase()} ${groupDigits(point[o.key])}`)
              .join(", ")}`
          : "Point at a bar for its figures."}
      </p>
    </>
  );
}

/** The series as a table, every bucket, with the totals last. */
export function UsageTable({ series, caption }: { series: UsageSeries; caption: string }) {
  return (
    <table className="usage-table">
      <caption>{caption}</caption>
      <thead>
        <tr>
          <th scope="col">{series.step === "day" ? "Day" : series.step === "hour" ? "Hour" : "Minute"} from</th>
          {outcomes.map((o) => (
            <th scope="col" key={o.key}>
              {o.label}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {series.points.map((p) => (
          <tr key={p.t}>
            <th scope="row">{bucketLabel(p.t, series.step)}</th>
            {outcomes.map((o) => (
              <td key={o.key}>{groupDigits(p[o.key])}</td>
            ))}
          </tr>
        ))}
      </tbody>
      <tfoot>
        <tr>
          <th scope="row">Total</th>
          {outcomes.map((o) => (
            <td key={o.key} data-outcome={o.key}>
              {groupDigits(series.totals[o.key])}
            </td>
          ))}
        </tr>
      </tfoot>
    </table>
  );
}

/** "1 200 requests: 1 150 allowed, 50 refused." */
export function usageSentence(s: UsageSeries): string {
  const n = total(s.totals);
  if (n === 0) return "No requests.";
  return `${groupDigits(n)} ${n === 1 ? "request" : "requests"}: ${groupDigits(s.totals.allowed)} allowed, ${groupDigits(refusals(s.totals))} refused.`;
}

export function UsageChart({ series, title }: { series: UsageSeries; title: string }) {
  const sentence = usageSentence(series);
  return (
    <div className="usage-chart">
      <ul className="usage-legend" aria-label="Totals by outcome">
        {outcomes.map((o) => (
          <li key={o.key}>
            <span className={`swatch swatch-${o.key}`} aria-hidden="true" />
            {o.label} <strong>{groupDigits(series.totals[o.key])}</strong>
          </li>
        ))}
      </ul>
      <Canvas series={series} label={`${title}, stacked by outcome. ${sentence} The figures are in the table below.`} />
      <details className="usage-details">
        <summary>Show the figures as a table</summary>
        {/* It scrolls (many buckets): reachable with the keyboard, and named for it. */}
        <div className="table-scroll" tabIndex={0} role="region" aria-label={`${title}: the figures`}>
          <UsageTable series={series} caption={`${title}, by ${series.step}`} />
        </div>
      </details>
    </div>
  );
}

export const rangeLabel = (r: RangePreset) => rangePresets.find((p) => p.value === r)?.label ?? r;

/** The range to show: one of the presets, as toggle buttons. */
export function RangePicker({ value, onChange }: { value: RangePreset; onChange: (r: RangePreset) => void }) {
  return (
    <div className="range-picker" role="group" aria-label="Range">
      {rangePresets.map((r) => (
        <button
          key={r.value}
          type="button"
          className="button button-small"
          aria-pressed={r.value === value}
          title={`The last ${r.label}`}
          onClick={() => {
            onChange(r.value);
          }}
        >
          {r.value}
        </button>
      ))}
    </div>
  );
}

