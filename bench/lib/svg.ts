/**
 * The one chart the reports use: a hand-made SVG line chart (no plotting dependency). Each series is
 * a list of points whose y is a {@link Spread}: the median is drawn, min–max as whiskers when there
 * were repetitions. The x axis is either categorical (concurrencies tested) or a linear scale (time).
 */
import { fmt, type Spread } from "./stats.js";

/** One line of a chart. */
export interface ChartSeries {
  readonly label: string;
  readonly points: readonly { readonly x: number; readonly y: Spread }[];
}

/** What {@link lineChart} draws. */
export interface ChartSpec {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly ChartSeries[];
  /** Categorical x: these values, evenly spaced, in this order (otherwise a linear scale from 0). */
  readonly categories?: readonly number[];
  /** A dashed horizontal line, e.g. a target. */
  readonly reference?: { readonly y: number; readonly label: string };
  /** Small print under the legend. */
  readonly note?: readonly string[];
}

const colours = ["#c53030", "#2b6cb0", "#2f855a", "#b7791f", "#6b46c1", "#2c7a7b", "#97266d", "#4a5568"];
const dashes = ["", "6 4", "2 3", "8 3 2 3", "", "6 4", "2 3", ""];

function niceMax(value: number): number {
  if (!(value > 0)) return 1;
  const exp = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (value <= step * exp) return step * exp;
  return 10 * exp;
}

function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** Renders `spec` as a standalone SVG document. */
export function lineChart(spec: ChartSpec): string {
  const width = 760;
  const height = 420;
  const m = { left: 80, right: 220, top: 48, bottom: 60 };
  const plotW = width - m.left - m.right;
  const plotH = height - m.top - m.bottom;
  const allY = spec.series.flatMap((s) => s.points.map((p) => p.y.max));
  if (spec.reference) allY.push(spec.reference.y);
  const yMax = niceMax(Math.max(0, ...allY.filter(Number.isFinite)));
  const categories = spec.categories;
  const xMax = categories
    ? categories.length - 1
    : niceMax(Math.max(0, ...spec.series.flatMap((s) => s.points.map((p) => p.x))));
  const xIndex = (value: number) => (categories ? categories.indexOf(value) : value);
  const x = (value: number) =>
    m.left + (xMax === 0 ? plotW / 2 : (xIndex(value) * plotW) / Math.max(1e-9, xMax));
  const y = (v: number) => m.top + plotH - (v / yMax) * plotH;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${m.left}" y="24" font-size="15" font-weight="bold">${escapeXml(spec.title)}</text>`,
  ];
  for (let i = 0; i <= 5; i++) {
    const v = (yMax * i) / 5;
    out.push(
      `<line x1="${m.left}" y1="${y(v)}" x2="${m.left + plotW}" y2="${y(v)}" stroke="#e2e8f0"/>`,
      `<text x="${m.left - 8}" y="${y(v) + 4}" text-anchor="end">${fmt(v, yMax < 10 ? 1 : 0)}</text>`,
    );
  }
  const ticks = categories ?? Array.from({ length: 6 }, (_, i) => (xMax * i) / 5);
  for (const tick of ticks) {
    out.push(
      `<line x1="${x(tick)}" y1="${m.top + plotH}" x2="${x(tick)}" y2="${m.top + plotH + 5}" stroke="#4a5568"/>`,
      `<text x="${x(tick)}" y="${m.top + plotH + 20}" text-anchor="middle">${fmt(tick, !categories && xMax < 10 ? 1 : 0)}</text>`,
    );
  }
  out.push(
    `<line x1="${m.left}" y1="${m.top + plotH}" x2="${m.left + plotW}" y2="${m.top + plotH}" stroke="#4a5568"/>`,
    `<line x1="${m.left}" y1="${m.top}" x2="${m.left}" y2="${m.top + plotH}" stroke="#4a5568"/>`,
    `<text x="${m.left + plotW / 2}" y="${height - 18}" text-anchor="middle">${escapeXml(spec.xLabel)}</text>`,
    `<text transform="translate(20 ${m.top + plotH / 2}) rotate(-90)" text-anchor="middle">${escapeXml(spec.yLabel)}</text>`,
  );
  if (spec.reference) {
    const ry = y(spec.reference.y).toFixed(1);
    out.push(
      `<line x1="${m.left}" y1="${ry}" x2="${m.left + plotW}" y2="${ry}" stroke="#718096" stroke-dasharray="3 3"/>`,
      `<text x="${m.left + plotW - 4}" y="${Number(ry) - 4}" text-anchor="end" fill="#718096">${escapeXml(spec.reference.label)}</text>`,
    );
  }
  const dots = spec.series.every((s) => s.points.length <= 40);
  spec.series.forEach((s, index) => {
    const colour = colours[index % colours.length];
    const points = s.points.filter((p) => Number.isFinite(p.y.median) && xIndex(p.x) >= 0);
    out.push(
      `<polyline fill="none" stroke="${colour}" stroke-width="2.5" stroke-dasharray="${dashes[index % dashes.length]}" points="${points.map((p) => `${x(p.x).toFixed(1)},${y(p.y.median).toFixed(1)}`).join(" ")}"/>`,
    );
    for (const p of points) {
      const px = x(p.x);
      if (p.y.n > 1) {
        out.push(
          `<line x1="${px}" y1="${y(p.y.min).toFixed(1)}" x2="${px}" y2="${y(p.y.max).toFixed(1)}" stroke="${colour}" stroke-width="1.5"/>`,
          `<line x1="${px - 4}" y1="${y(p.y.min).toFixed(1)}" x2="${px + 4}" y2="${y(p.y.min).toFixed(1)}" stroke="${colour}"/>`,
          `<line x1="${px - 4}" y1="${y(p.y.max).toFixed(1)}" x2="${px + 4}" y2="${y(p.y.max).toFixed(1)}" stroke="${colour}"/>`,
        );
      }
      if (dots) {
        out.push(`<circle cx="${px.toFixed(1)}" cy="${y(p.y.median).toFixed(1)}" r="3.5" fill="${colour}"/>`);
      }
    }
    const ly = m.top + 10 + index * 22;
    const lx = m.left + plotW + 16;
    out.push(
      `<line x1="${lx}" y1="${ly}" x2="${lx + 28}" y2="${ly}" stroke="${colour}" stroke-width="2.5" stroke-dasharray="${dashes[index % dashes.length]}"/>`,
      `<text x="${lx + 34}" y="${ly + 4}">${escapeXml(s.label)}</text>`,
    );
  });
  const noteTop = m.top + 10 + spec.series.length * 22 + 16;
  (spec.note ?? []).forEach((line, i) => {
    out.push(
      `<text x="${m.left + plotW + 16}" y="${noteTop + i * 14}" fill="#4a5568" font-size="11">${escapeXml(line)}</text>`,
    );
  });
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}
