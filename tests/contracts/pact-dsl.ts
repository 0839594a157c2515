/**
 * Small helpers over Pact's matchers that both consumer tests and verifications share: values the
 * provider fills in from a provider state (with a pattern the consumer's real value must match), and
 * the names of the pacts' participants.
 */
import { MatchersV3 } from "@pact-foundation/pact";

/** Pact participants: consumers and providers, as they appear in `pacts/<consumer>-<provider>.json`. */
export const participants = {
  storefront: "storefront",
  sdk: "sdk",
  edge: "edge",
  identity: "identity",
  order: "order",
  shipping: "shipping",
  notification: "notification",
} as const;

/** `${name}`: a value of the provider state in one of Pact's expressions (see {@link fromState}). */
export function stateRef(name: string): string {
  return `\${${name}}`;
}

const escapeRegex = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * A value the provider computes from a provider state: `template` names state values as `${name}`
 * (Pact's expression syntax); the consumer test sends `template` with `examples` filled in, and Pact's
 * mock server accepts any value of the template's shape (each `${name}` one token without quotes or
 * spaces), so the rest of the value — a Connect GET's whole JSON message, say — is still pinned.
 */
export function fromState(
  template: string,
  examples: Readonly<Record<string, string>>,
): MatchersV3.Matcher<string> {
  const value = template.replace(/\$\{(\w+)\}/g, (_, name: string) => {
    const example = examples[name];
    if (example === undefined) throw new Error(`fromState: no example for \${${name}} in ${template}`);
    return example;
  });
  const regex = `^${template
    .split(/\$\{\w+\}/)
    .map(escapeRegex)
    .join('[^"\\s]+')}$`;
  return {
    "pact:matcher:type": "regex",
    regex,
    "pact:generator:type": "ProviderState",
    expression: template,
    value,
  } as MatchersV3.Matcher<string>;
}

/** A JSON request message for a Connect GET (`?message=`), with state values as in {@link fromState}. */
export function getMessage(
  message: Readonly<Record<string, unknown>>,
  examples: Readonly<Record<string, string>> = {},
): MatchersV3.Matcher<string> | string {
  const template = JSON.stringify(message);
  return /\$\{\w+\}/.test(template) ? fromState(template, examples) : template;
}

/** An RFC 3339 timestamp in UTC as protobuf JSON writes it. */
export const timestamp = (example: string) =>
  MatchersV3.regex(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/, example);
/** An int64 as protobuf JSON writes it: a decimal string. */
export const int64 = (example: string) => MatchersV3.regex(/^-?\d+$/, example);
