import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "vitest";

/** `UPDATE_GOLDEN=1` rewrites the golden files from what the system answers instead of comparing. */
const updating = process.env.UPDATE_GOLDEN === "1";
const goldenDir = join(dirname(fileURLToPath(import.meta.url)), "edge");

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const timestamp = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

/**
 * The volatile fields of the edge's JSON, by field name: what each must look like, and what it becomes.
 * Every other field is compared as it is, so a renamed field, a changed enum spelling or a number turned
 * into a string shows up as a golden diff.
 */
const volatileFields: Readonly<Record<string, { pattern: RegExp; kind: string }>> = {
  id: { pattern: uuid, kind: "uuid" },
  userId: { pattern: uuid, kind: "uuid" },
  productId: { pattern: uuid, kind: "uuid" },
  categoryId: { pattern: uuid, kind: "uuid" },
  paymentId: { pattern: uuid, kind: "uuid" },
  createdAt: { pattern: timestamp, kind: "timestamp" },
  updatedAt: { pattern: timestamp, kind: "timestamp" },
  nextPageToken: { pattern: /^\S+$/, kind: "page-token" },
};

/**
 * Replaces volatile values with placeholders. Ids become `<uuid-N>`, numbered in order of first
 * appearance across one {@link Normalizer}, so the golden files still show which ids are equal (the
 * order's productId is the listed product's id, its userId the registered user's). A volatile field
 * whose value does not look as expected fails the test rather than being hidden.
 */
export class Normalizer {
  private readonly seen = new Map<string, string>();

  normalize(value: unknown, path = "$"): unknown {
    if (Array.isArray(value)) return value.map((item, index) => this.normalize(item, `${path}[${index}]`));
    if (value === null || typeof value !== "object") return value;
    const out: Record<string, unknown> = {};
    for (const [key, field] of Object.entries(value)) {
      const rule = volatileFields[key];
      if (rule === undefined || typeof field !== "string") {
        out[key] = this.normalize(field, `${path}.${key}`);
        continue;
      }
      expect(field, `${path}.${key} should be a ${rule.kind}`).toMatch(rule.pattern);
      out[key] = rule.kind === "uuid" ? this.placeholder(field) : `<${rule.kind}>`;
    }
    return out;
  }

  private placeholder(id: string): string {
    let name = this.seen.get(id);
    if (name === undefined) {
      name = `<uuid-${this.seen.size + 1}>`;
      this.seen.set(id, name);
    }
    return name;
  }
}

/** Compares `actual` with the golden file `tests/golden/edge/<name>.json` (or rewrites it when updating). */
export function expectGolden(name: string, actual: unknown): void {
  const file = join(goldenDir, `${name}.json`);
  const text = `${JSON.stringify(actual, null, 2)}\n`;
  if (updating) {
    mkdirSync(goldenDir, { recursive: true });
    writeFileSync(file, text);
    return;
  }
  let golden: string;
  try {
    golden = readFileSync(file, "utf8");
  } catch {
    throw new Error(`no golden file ${file}; run with UPDATE_GOLDEN=1 to create it`);
  }
  expect(text, `${name}: the edge's JSON changed (UPDATE_GOLDEN=1 accepts it)`).toBe(golden);
}
