/**
 * Statistics and number formatting shared by every benchmark: medians with their spread over
 * repetitions, percentiles of raw samples, a least-squares slope for "does it stay flat".
 */

/** Median, minimum and maximum of repeated measurements (NaN-free). */
export interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly n: number;
}

/** The {@link Spread} of `values`, ignoring non-finite ones. */
export function spread(values: readonly number[]): Spread {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  const n = sorted.length;
  if (n === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN, n: 0 };
  return { median: quantileOfSorted(sorted, 0.5), min: sorted[0] as number, max: sorted[n - 1] as number, n };
}

function quantileOfSorted(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  // Linear interpolation between closest ranks (the common "type 7" definition).
  const position = (sorted.length - 1) * q;
  const lower = Math.floor(position);
  const upper = Math.ceil(position);
  const a = sorted[lower] as number;
  const b = sorted[upper] as number;
  return a + (b - a) * (position - lower);
}

/** Percentiles of raw samples: `q` in 0–1 (0.99 for p99). */
export function percentile(values: readonly number[], q: number): number {
  return quantileOfSorted(
    values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b),
    q,
  );
}

/** p50, p90, p99 and the maximum of raw latency samples, with their count. */
export interface Distribution {
  readonly n: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

/** The {@link Distribution} of raw samples. */
export function distribution(values: readonly number[]): Distribution {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  return {
    n: sorted.length,
    p50: quantileOfSorted(sorted, 0.5),
    p90: quantileOfSorted(sorted, 0.9),
    p99: quantileOfSorted(sorted, 0.99),
    max: sorted.length > 0 ? (sorted[sorted.length - 1] as number) : Number.NaN,
  };
}

/** Least-squares slope of y over x (NaN with fewer than two distinct x). */
export function slope(points: readonly { readonly x: number; readonly y: number }[]): number {
  const finite = points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  const n = finite.length;
  if (n < 2) return Number.NaN;
  const mx = finite.reduce((s, p) => s + p.x, 0) / n;
  const my = finite.reduce((s, p) => s + p.y, 0) / n;
  const sxx = finite.reduce((s, p) => s + (p.x - mx) ** 2, 0);
  if (sxx === 0) return Number.NaN;
  return finite.reduce((s, p) => s + (p.x - mx) * (p.y - my), 0) / sxx;
}

/** A number for a report: grouped thousands, fixed decimals, "–" when not finite. */
export function fmt(value: number, digits = 0): string {
  if (!Number.isFinite(value)) return "–";
  return value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** "median (min–max)", or just the value for a single measurement. */
export function fmtSpread(s: Spread, digits = 0): string {
  if (s.n === 0) return "–";
  if (s.n === 1) return fmt(s.median, digits);
  return `${fmt(s.median, digits)} (${fmt(s.min, digits)}–${fmt(s.max, digits)})`;
}

/** Bytes as MiB with one decimal. */
export function mib(bytes: number): string {
  return fmt(bytes / 2 ** 20, 1);
}

/** A single measurement as a {@link Spread} (for time series in charts). */
export function single(value: number): Spread {
  return { median: value, min: value, max: value, n: 1 };
}
