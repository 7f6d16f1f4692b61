import { describe, expect, it } from "vitest";
import { axisDate } from "./format";

describe("the chart's axis dates", () => {
  const d = new Date("2026-12-01T14:05:00Z");

  it("show the parts uPlot's template names, in the browser's locale and order", () => {
    expect(axisDate("{D} {MMM}")(d)).toBe(new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" }).format(d));
    expect(axisDate("{h}:{mm}{aa}")(d)).toBe(new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit" }).format(d));
    expect(axisDate("{YYYY}")(d)).toBe(new Intl.DateTimeFormat(undefined, { year: "numeric" }).format(d));
  });

  it("keep a two-line label's lines", () => {
    const [time, date] = axisDate("{h}:{mm}{aa}\n{M}/{D}/{YY}")(d).split("\n");
    expect(time).not.toMatch(/2026/);
    expect(date).toMatch(/2026/);
  });

  it("are written in another locale's words when the browser has another locale", () => {
    const de = new Intl.DateTimeFormat("de-DE", { month: "short", day: "numeric" }).format(d);
    expect(de).not.toBe(new Intl.DateTimeFormat("en-US", { month: "short", day: "numeric" }).format(d));
  });
});
