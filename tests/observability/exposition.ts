/**
 * Reading what the services export: a parser for the Prometheus text exposition format, scraping
 * admin ports, and the metric names PromQL expressions refer to.
 */

/** One sample line: `name{label="value",…} value`. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** A parsed scrape: the samples and the metric families declared by `# TYPE`. */
export interface Exposition {
  readonly samples: readonly Sample[];
  /** Family name → type (counter, gauge, histogram, summary, untyped). */
  readonly types: ReadonlyMap<string, string>;
}

const samplePattern = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const labelPattern = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?/gy;

function unescapeLabel(value: string): string {
  return value.replace(/\\(["\\n])/g, (_, c: string) => (c === "n" ? "\n" : c));
}

function parseValue(text: string): number {
  if (text === "+Inf") return Number.POSITIVE_INFINITY;
  if (text === "-Inf") return Number.NEGATIVE_INFINITY;
  return Number(text);
}

/** Parses the text format; throws on a line it cannot read (so a malformed exposition fails tests). */
export function parseExposition(text: string): Exposition {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    if (line.startsWith("#")) {
      const type = /^# TYPE (\S+) (\S+)$/.exec(line);
      if (type) types.set(type[1]!, type[2]!);
      continue;
    }
    const match = samplePattern.exec(line);
    if (!match) throw new Error(`not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    const body = match[2] ?? "";
    labelPattern.lastIndex = 0;
    while (labelPattern.lastIndex < body.length) {
      const label = labelPattern.exec(body);
      if (!label) throw new Error(`bad labels in: ${line}`);
      labels[label[1]!] = unescapeLabel(label[2]!);
    }
    const value = parseValue(match[3]!);
    if (Number.isNaN(value) && match[3] !== "NaN") throw new Error(`bad value in: ${line}`);
    samples.push({ name: match[1]!, labels, value });
  }
  return { samples, types };
}

/** GETs `/metrics` from an admin port and parses it. */
export async function scrape(adminPort: number): Promise<Exposition> {
  const response = await fetch(`http://127.0.0.1:${adminPort}/metrics`);
  if (response.status !== 200) throw new Error(`/metrics on ${adminPort} answered ${response.status}`);
  return parseExposition(await response.text());
}

/** Sum of the samples named `name` whose labels include `match`. */
export function total(exposition: Exposition, name: string, match: Record<string, string> = {}): number {
  return exposition.samples
    .filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

/** Whether any sample named `name` has labels including `match`. */
export function has(exposition: Exposition, name: string, match: Record<string, string> = {}): boolean {
  return exposition.samples.some(
    (s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v),
  );
}

const promqlWords = new Set([
  "sum",
  "max",
  "min",
  "avg",
  "count",
  "rate",
  "irate",
  "increase",
  "histogram_quantile",
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "and",
  "or",
  "unless",
  "offset",
  "bool",
  "abs",
  "clamp_min",
  "clamp_max",
  "topk",
  "bottomk",
  "time",
  "vector",
  "le",
]);

/**
 * The metric names a PromQL expression selects: identifiers outside label matchers, grouping
 * clauses, strings and range brackets that are not functions or keywords. Grafana's `$__…`
 * variables are dropped.
 */
export function metricNamesIn(expression: string): string[] {
  const stripped = expression
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, "")
    .replace(/\[[^\]]*\]/g, "")
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, "")
    .replace(/\$\w+/g, "");
  const names = new Set<string>();
  for (const match of stripped.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const word = match[0];
    const next = stripped.slice((match.index ?? 0) + word.length).trimStart();
    if (promqlWords.has(word) || next.startsWith("(")) continue;
    names.add(word);
  }
  return [...names];
}
