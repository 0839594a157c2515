/**
 * The benchmark report: every benchmark returns a {@link Section} (its targets with verdicts, a
 * Markdown body, raw data); {@link renderReport} puts them together with the machine, the versions
 * and the commit into one Markdown document.
 */
import type { Environment } from "./environment.js";
import { fmt } from "./stats.js";

/** One target and how the run did against it. */
export interface TargetCheck {
  /** What is promised, e.g. "edge throughput ≥ 0.8 × grpc-gateway at c=32". */
  readonly target: string;
  /** What was measured, with units. */
  readonly measured: string;
  readonly met: boolean;
  /** When missed: by how much, in words ("by 0.12 (15 % short)"). */
  readonly miss?: string;
}

/** What a benchmark hands back. */
export interface Section {
  /** Short id, e.g. "edge" (also the plots' file-name part). */
  readonly id: string;
  readonly title: string;
  readonly targets: readonly TargetCheck[];
  /** The section body in Markdown (headings from level 3 down). */
  readonly markdown: string;
  /** Raw figures, written to the report's JSON. */
  readonly data: unknown;
}

/** A target of the form `measured ≥ limit`. */
export function atLeast(target: string, measured: number, limit: number, unit = "", digits = 2): TargetCheck {
  const met = measured >= limit;
  return {
    target,
    measured: `${fmt(measured, digits)}${unit}`,
    met,
    ...(met
      ? {}
      : {
          miss: `by ${fmt(limit - measured, digits)}${unit} (${fmt(limit > 0 ? (1 - measured / limit) * 100 : Number.NaN, 0)} % short)`,
        }),
  };
}

/** A target of the form `measured ≤ limit`. */
export function atMost(target: string, measured: number, limit: number, unit = "", digits = 2): TargetCheck {
  const met = measured <= limit;
  return {
    target,
    measured: `${fmt(measured, digits)}${unit}`,
    met,
    ...(met
      ? {}
      : {
          miss: `by ${fmt(measured - limit, digits)}${unit} (${fmt(limit > 0 ? (measured / limit - 1) * 100 : Number.NaN, 0)} % over)`,
        }),
  };
}

/** How the harness was run, for the report's header. */
export interface RunInfo {
  readonly mode: "full" | "quick" | "soak";
  readonly command: string;
  readonly elapsedS: number;
  /** Benchmarks that failed to run, with their error. */
  readonly failures: readonly { readonly id: string; readonly error: string }[];
  /** The JSON file with the raw figures, next to the report. */
  readonly rawFile: string;
}

/** The whole report as Markdown. */
export function renderReport(env: Environment, run: RunInfo, inRunOrder: readonly Section[]): string {
  // Run order differs from the issue's numbering (which the titles carry); readers expect the latter.
  const sections = [...inRunOrder].sort((a, b) => a.title.localeCompare(b.title, "en", { numeric: true }));
  const lines: string[] = [];
  const smoke = run.mode === "quick" ? " (quick smoke run: figures are not measurements)" : "";
  lines.push(
    `# Mercato benchmarks${smoke}: ${env.date}`,
    "",
    `Commit \`${env.commit}\`${env.dirty ? " (with uncommitted changes)" : ""}; \`${run.command}\` took ${fmt(run.elapsedS)} s. ` +
      "What each benchmark does and how to read it: [bench/README.md](../README.md).",
    "",
    "## Targets",
    "",
    "| benchmark | target | measured | verdict |",
    "|---|---|---|---|",
  );
  for (const section of sections) {
    for (const t of section.targets) {
      lines.push(
        `| ${section.title} | ${t.target} | ${t.measured} | ${t.met ? "met" : `**missed** ${t.miss ?? ""}`.trim()} |`,
      );
    }
  }
  for (const failure of run.failures) {
    lines.push(`| ${failure.id} | (did not run) | – | **failed**: ${failure.error.split("\n")[0]} |`);
  }
  lines.push("");
  for (const section of sections) {
    lines.push(`## ${section.title}`, "", section.markdown.trim(), "");
  }
  if (run.failures.length > 0) {
    lines.push("## Failures", "");
    for (const failure of run.failures) {
      lines.push(`### ${failure.id}`, "", "```", failure.error.slice(0, 4000), "```", "");
    }
  }
  lines.push(
    "## Machine and versions",
    "",
    "| | |",
    "|---|---|",
    ...Object.entries(env.machine).map(([k, v]) => `| ${k} | ${v} |`),
    ...Object.entries(env.versions).map(([k, v]) => `| ${k} | ${v} |`),
    "",
    `Raw figures of every run: [${run.rawFile}](${run.rawFile}).`,
    "",
  );
  return lines.join("\n");
}
