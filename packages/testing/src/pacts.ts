/**
 * Pact files for consumer-driven contract tests. Consumer tests write their pact into a fresh temporary
 * directory ({@link pactOutput}) and, as their last test, compare it with the committed file under
 * `pacts/` ({@link checkPactFile}); provider verifications read only the committed files. So the two
 * never race inside one vitest run (files run in parallel forks), and a consumer change that was not
 * committed as a pact fails the consumer's own test instead of going unverified.
 */
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type DescMessage, fromJson, type JsonValue, type MessageShape } from "@bufbuild/protobuf";

/** The committed pact files: `pacts/<consumer>-<provider>.json` at the repository root. */
export const pactsDir = resolve(dirname(fileURLToPath(import.meta.url)), "../../../pacts");

/** Where a consumer test writes its pact, and where the committed one is. */
export interface PactOutput {
  readonly consumer: string;
  readonly provider: string;
  /** Temporary directory given to Pact as `dir`. */
  readonly dir: string;
  /** The file Pact writes there. */
  readonly generated: string;
  /** The committed file. */
  readonly committed: string;
}

/** A fresh temporary directory for one consumer–provider pact (committed under `committedDir`). */
export function pactOutput(consumer: string, provider: string, committedDir = pactsDir): PactOutput {
  const dir = mkdtempSync(join(tmpdir(), `mercato-pact-${consumer}-${provider}-`));
  const name = `${consumer}-${provider}.json`;
  return { consumer, provider, dir, generated: join(dir, name), committed: join(committedDir, name) };
}

/** The committed path of a consumer–provider pact. */
export function committedPact(consumer: string, provider: string): string {
  return join(pactsDir, `${consumer}-${provider}.json`);
}

/** Pact's file re-serialised with sorted keys and two-space indents, so equal pacts are equal text. */
export function canonicalPact(text: string): string {
  const sort = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(sort);
    if (value === null || typeof value !== "object") return value;
    return Object.fromEntries(
      Object.entries(value)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([k, v]) => [k, sort(v)]),
    );
  };
  return `${JSON.stringify(sort(JSON.parse(text)), null, 2)}\n`;
}

function firstDifference(expected: string, actual: string): string {
  const a = expected.split("\n");
  const b = actual.split("\n");
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i] !== b[i]) {
      const context = (lines: string[]) =>
        lines
          .slice(Math.max(0, i - 2), i + 3)
          .map((l) => `    ${l}`)
          .join("\n");
      return `first difference at line ${i + 1}:\n  committed:\n${context(a)}\n  generated:\n${context(b)}`;
    }
  }
  return "no difference";
}

/**
 * Compares the pact the consumer tests just wrote with the committed one. With `UPDATE_PACTS=1` it
 * writes the generated pact to `pacts/` instead (review the diff and commit it). Removes the
 * temporary directory either way.
 *
 * @throws when the files differ (naming the file, the first difference and the command to accept it)
 */
export function checkPactFile(output: PactOutput): void {
  try {
    if (!existsSync(output.generated)) {
      throw new Error(`the consumer tests wrote no pact ${output.generated}; did they all run?`);
    }
    const generated = canonicalPact(readFileSync(output.generated, "utf8"));
    if (process.env.UPDATE_PACTS === "1") {
      mkdirSync(dirname(output.committed), { recursive: true });
      writeFileSync(output.committed, generated);
      return;
    }
    if (!existsSync(output.committed)) {
      throw new Error(`no committed pact ${output.committed}; run the consumer tests with UPDATE_PACTS=1`);
    }
    const committed = readFileSync(output.committed, "utf8");
    if (committed !== generated) {
      throw new Error(
        `pacts/${output.consumer}-${output.provider}.json is not what the ${output.consumer} consumer ` +
          `tests generate, so the ${output.provider} would be verified against stale expectations. ` +
          `Run the consumer tests with UPDATE_PACTS=1, review the diff and commit it.\n` +
          firstDifference(committed, generated),
      );
    }
  } finally {
    rmSync(output.dir, { recursive: true, force: true });
  }
}

/** A message of a message pact as Pact hands it to a consumer test. */
export interface PactMessage {
  readonly contents: { readonly content: unknown };
  readonly metadata: Readonly<Record<string, unknown>>;
}

/**
 * The event a message pact describes, ready to publish the way the outbox relay does: its subject
 * and type header from the message's metadata (`subject`, `Mercato-Event-Type`), the event decoded
 * from the body (the event's protobuf JSON) by the consumer's own schema, with `overrides` applied
 * (ids of things the consumer test created) and a fresh `eventId`, so consumers' inboxes see a new
 * event every run.
 *
 * @throws when the metadata's type is not `schema`'s (the consumer would dead-letter the event)
 */
export function eventFromPact<Desc extends DescMessage>(
  message: PactMessage,
  schema: Desc,
  overrides: Readonly<Record<string, unknown>> = {},
): { subject: string; event: MessageShape<Desc> & { eventId: string } } {
  const raw = message.contents.content;
  const body = (Buffer.isBuffer(raw) ? JSON.parse(raw.toString("utf8")) : raw) as Record<string, unknown>;
  const subject = message.metadata.subject;
  const type = message.metadata["Mercato-Event-Type"];
  if (typeof subject !== "string") throw new Error("the message pact has no subject in its metadata");
  if (type !== schema.typeName) {
    throw new Error(`the message pact's type is ${String(type)}, the consumer decodes ${schema.typeName}`);
  }
  const event = fromJson(schema, {
    ...body,
    ...overrides,
    eventId: randomUUID(),
  } as JsonValue) as MessageShape<Desc> & {
    eventId: string;
  };
  return { subject, event };
}
