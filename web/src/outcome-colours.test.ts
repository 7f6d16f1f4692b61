// The outcome colours, read from styles.css itself: the stylesheet is the one place that
// defines them (every chart, sparkline and legend takes them from its CSS variables), so
// the test checks what ships rather than a copy that could drift from it. A refusal must
// never look like success: refusals are warm, allowed is not, and all five are told
// apart by lightness alone (for colour-blind eyes and grey-scale print), in both themes.
/// <reference types="node" />
// (Read from the disk: vitest's `css: false` hands `?raw` stylesheets over empty.)
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { outcomes } from "./lib/usage";

const css = readFileSync(`${import.meta.dirname}/styles.css`, "utf8");

/** The custom properties of the first `:root { … }` in `text`. */
function rootVars(text: string): Map<string, string> {
  const block = /:root\s*\{([^}]*)\}/.exec(text)?.[1] ?? "";
  return new Map([...block.matchAll(/(--[\w-]+)\s*:\s*([^;]+);/g)].map((m) => [m[1] ?? "", (m[2] ?? "").trim()]));
}

const light = rootVars(css);
const darkAt = css.indexOf("prefers-color-scheme: dark");
const dark = rootVars(css.slice(darkAt));

function rgb(hex: string): [number, number, number] {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex);
  if (!m) throw new Error(`not a #rrggbb colour: ${hex}`);
  return [parseInt(m[1] ?? "", 16), parseInt(m[2] ?? "", 16), parseInt(m[3] ?? "", 16)];
}

/** WCAG's relative luminance, 0 (black) to 1 (white). */
export function luminance(hex: string): number {
  const lin = (c: number) => {
    const s = c / 255;
    return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  const [r, g, b] = rgb(hex).map(lin) as [number, number, number];
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** WCAG's contrast ratio of two colours (1 to 21). */
const contrast = (a: string, b: string) => {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
  return (hi + 0.05) / (lo + 0.05);
};

/** The HSL hue in degrees, and the saturation (0 to 1). */
function hue(hex: string): { h: number; s: number } {
  const [r, g, b] = rgb(hex).map((c) => c / 255) as [number, number, number];
  const max = Math.max(r, g, b);
  const min = Math.min(r, g, b);
  const d = max - min;
  const l = (max + min) / 2;
  const s = d === 0 ? 0 : d / (1 - Math.abs(2 * l - 1));
  let h = 0;
  if (d > 0) {
    if (max === r) h = ((g - b) / d) % 6;
    else if (max === g) h = (b - r) / d + 2;
    else h = (r - g) / d + 4;
  }
  return { h: (h * 60 + 360) % 360, s };
}

const warm = (hex: string) => {
  const { h, s } = hue(hex);
  return s > 0.5 && (h <= 50 || h >= 345);
};

describe.each([
  ["light", light],
  ["dark", dark],
])("the outcome colours (%s theme)", (_theme, vars) => {
  const colour = (name: string) => {
    const v = vars.get(name);
    if (v === undefined) throw new Error(`${name} is not set in this theme's :root`);
    return v;
  };
  const surface = colour("--surface");
  const [allowed, ...refusals] = outcomes.map((o) => ({ key: o.key, hex: colour(o.color) }));

  it("are all set, allowed first and then the refusals", () => {
    expect(allowed?.key).toBe("allowed");
    expect(refusals.map((r) => r.key)).toEqual(["forbidden", "refused", "rate_limited", "usage_exceeded"]);
  });

  it("draw refusals warm and allowed not", () => {
    if (!allowed) throw new Error("no allowed");
    expect(warm(allowed.hex), `allowed ${allowed.hex}`).toBe(false);
    const { h } = hue(allowed.hex);
    // Green (or a grey): the colour of success, never of a warning.
    expect(h > 90 && h < 200, `allowed ${allowed.hex} at ${h}°`).toBe(true);
    for (const r of refusals) expect(warm(r.hex), `${r.key} ${r.hex} at ${hue(r.hex).h}°`).toBe(true);
    expect(new Set(refusals.map((r) => r.hex)).size).toBe(refusals.length);
  });

  it("grow darker from allowed to usage exceeded, each a clear step from the last", () => {
    const all = [allowed, ...refusals].flatMap((c) => (c ? [c] : []));
    for (let i = 1; i < all.length; i++) {
      const [a, b] = [all[i - 1], all[i]];
      if (!a || !b) continue;
      expect(luminance(b.hex), `${b.key} darker than ${a.key}`).toBeLessThan(luminance(a.hex));
      // 1.4:1 apart: neighbours in a stack differ in grey scale too.
      expect(contrast(a.hex, b.hex), `${a.key} ${a.hex} against ${b.key} ${b.hex}`).toBeGreaterThanOrEqual(1.4);
    }
    // The mildest refusal stands well off allowed, the harshest further still.
    const first = refusals[0];
    if (allowed && first) expect(contrast(allowed.hex, first.hex)).toBeGreaterThanOrEqual(1.4);
  });

  it("stand off the surface they are drawn on", () => {
    // Every figure is also in text (the legend and the table under each chart), so the
    // bars need to be seen, not read: 1.8:1 at least, most far more.
    for (const c of [allowed, ...refusals]) {
      if (c) expect(contrast(c.hex, surface), `${c.key} ${c.hex} on ${surface}`).toBeGreaterThanOrEqual(1.8);
    }
  });
});
