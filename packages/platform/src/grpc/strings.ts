/**
 * The one check every request string passes before a handler sees it: no NUL character (PostgreSQL
 * refuses `\u0000` in text, so it would surface as an internal error deep in a handler) and no lone
 * UTF-16 surrogate (not encodable as UTF-8). Decided here, once, for every string field of every
 * request message — nested messages, repeated fields, map keys and values, oneofs and wrappers
 * included — instead of in each handler.
 */
import type { DescField, DescMessage } from "@bufbuild/protobuf";
import { ScalarType } from "@bufbuild/protobuf";
import { type FieldViolation, hasLoneSurrogate } from "../errors/index.js";

/** Most violations reported for one message (the rest would only lengthen the error). */
const maxReported = 10;
/** Nesting followed at most (protobuf-es itself refuses deeper messages). */
const maxDepth = 100;

/** What is wrong with one string, or undefined. */
function problemOf(text: string): string | undefined {
  if (text.includes("\u0000")) return "must not contain NUL characters";
  if (hasLoneSurrogate(text)) return "must be valid Unicode (a lone surrogate was found)";
  return undefined;
}

/** Whether a message type holds a string anywhere below it (cached per type; cycles count as no). */
const holdsStrings = new WeakMap<DescMessage, boolean>();
function mayHoldStrings(desc: DescMessage): boolean {
  const known = holdsStrings.get(desc);
  if (known !== undefined) return known;
  holdsStrings.set(desc, false);
  const found = desc.fields.some((field) => {
    if (field.fieldKind === "scalar" || field.fieldKind === "list" || field.fieldKind === "map") {
      if (field.fieldKind === "map" && field.mapKey === ScalarType.STRING) return true;
      if (field.scalar === ScalarType.STRING) return true;
    }
    const nested = field.message;
    return nested !== undefined && mayHoldStrings(nested);
  });
  holdsStrings.set(desc, found);
  return found;
}

type Sink = (field: string, description: string) => boolean;

function checkValue(field: DescField, value: unknown, path: string, depth: number, report: Sink): boolean {
  if (typeof value === "string") {
    const problem = problemOf(value);
    return problem === undefined || report(path, problem);
  }
  const nested = field.message;
  if (nested !== undefined && typeof value === "object" && value !== null && !(value instanceof Uint8Array)) {
    return walk(nested, value as Record<string, unknown>, `${path}.`, depth + 1, report);
  }
  return true;
}

/** Walks one message; returns false once the sink wants no more. */
function walk(
  desc: DescMessage,
  message: Record<string, unknown>,
  prefix: string,
  depth: number,
  report: Sink,
): boolean {
  if (depth > maxDepth || !mayHoldStrings(desc)) return true;
  for (const field of desc.fields) {
    const path = `${prefix}${field.name}`;
    let value: unknown;
    if (field.oneof === undefined) {
      value = message[field.localName];
    } else {
      const selected = message[field.oneof.localName] as { case?: string; value?: unknown } | undefined;
      if (selected?.case !== field.localName) continue;
      value = selected.value;
    }
    if (value === undefined || value === null) continue;
    if (field.fieldKind === "list") {
      const items = value as unknown[];
      for (let i = 0; i < items.length; i++) {
        if (!checkValue(field, items[i], `${path}[${i}]`, depth, report)) return false;
      }
    } else if (field.fieldKind === "map") {
      for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
        const keyProblem = problemOf(key);
        if (keyProblem !== undefined && !report(`${path} (a key)`, keyProblem)) return false;
        const shownKey = keyProblem === undefined && key.length <= 50 ? key : "…";
        if (!checkValue(field, item, `${path}[${JSON.stringify(shownKey)}]`, depth, report)) return false;
      }
    } else if (!checkValue(field, value, path, depth, report)) {
      return false;
    }
  }
  return true;
}

/**
 * The string fields of a decoded message that hold a NUL character or a lone surrogate, as field
 * violations named by their path in proto field names (`lines[0].product_id`); empty when none do.
 * At most ten are reported.
 */
export function stringViolations(desc: DescMessage, message: object): FieldViolation[] {
  const violations: FieldViolation[] = [];
  walk(desc, message as Record<string, unknown>, "", 0, (field, description) => {
    violations.push({ field, description });
    return violations.length < maxReported;
  });
  return violations;
}
