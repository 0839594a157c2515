/**
 * Building blocks of the edge's interactions as Connect clients send them: GETs with the JSON message
 * in the query (connect-web with `useHttpGet`), POSTs with a JSON body, bearer tokens from a provider
 * state, Connect error bodies, and the example bodies the consumers read.
 */
import { MatchersV3, type PactV4 } from "@pact-foundation/pact";
import type { Session } from "../../web/src/session.js";
import { exampleAccessToken, examples, jwtPattern } from "./edge-states.js";
import { fromState, getMessage, int64, stateRef, timestamp } from "./pact-dsl.js";

const { eachLike, like, integer, regex } = MatchersV3;

type Unconfigured = ReturnType<PactV4["addInteraction"]>;
/** An interaction with its request, waiting for `willRespondWith`. */
export type InteractionWithRequest = ReturnType<Unconfigured["withRequest"]>;
type JsonMap = NonNullable<Parameters<Unconfigured["given"]>[1]>;

/** The access token of the consumers' example sessions (a JWT whose signature the edge refuses). */
export const accessTokenExample = exampleAccessToken();

/** Options of one request. */
export interface RequestOptions {
  /** Parameters of the provider state. */
  readonly params?: JsonMap;
  /** Send `authorization: Bearer ${accessToken}` from the provider state. */
  readonly auth?: boolean;
  /** Headers sent exactly as given. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Examples for `${name}` placeholders beyond (or instead of) the shared ones. */
  readonly examples?: Readonly<Record<string, string>>;
}

type Pact = PactV4;

function start(pact: Pact, state: string | undefined, description: string, options: RequestOptions) {
  const interaction = pact.addInteraction();
  if (state !== undefined) interaction.given(state, options.params);
  return interaction.uponReceiving(description);
}

function headersOf(options: RequestOptions) {
  return {
    ...options.headers,
    ...(options.auth
      ? { authorization: fromState(`Bearer ${stateRef("accessToken")}`, { accessToken: accessTokenExample }) }
      : {}),
  };
}

/** Replaces every string with `${name}` placeholders in `body` by a {@link fromState} matcher. */
function withStateValues(body: unknown, values: Readonly<Record<string, string>>): unknown {
  if (typeof body === "string") return /\$\{\w+\}/.test(body) ? fromState(body, values) : body;
  if (Array.isArray(body)) return body.map((item) => withStateValues(item, values));
  if (body !== null && typeof body === "object") {
    return Object.fromEntries(Object.entries(body).map(([k, v]) => [k, withStateValues(v, values)]));
  }
  return body;
}

/** A side-effect-free RPC as connect-web sends it with `useHttpGet`: GET with `?message=<json>`. */
export function get(
  pact: Pact,
  state: string | undefined,
  description: string,
  path: string,
  message: Readonly<Record<string, unknown>>,
  options: RequestOptions = {},
): InteractionWithRequest {
  const values = { ...examples, ...options.examples };
  return start(pact, state, description, options).withRequest("GET", path, (req) =>
    req
      .query({ connect: "v1", encoding: "json", message: getMessage(message, values) })
      .headers(headersOf(options)),
  );
}

/** An RPC as a Connect client POSTs it: a JSON body, with `${name}` strings from the provider state. */
export function post(
  pact: Pact,
  state: string | undefined,
  description: string,
  path: string,
  body: Readonly<Record<string, unknown>>,
  options: RequestOptions = {},
): InteractionWithRequest {
  const values = { ...examples, ...options.examples };
  return start(pact, state, description, options).withRequest("POST", path, (req) =>
    // jsonBody sends (and pins) `content-type: application/json`.
    req.headers(headersOf(options)).jsonBody(withStateValues(body, values)),
  );
}

/** A Connect error body: the code exactly (clients branch on it), any client-safe message. */
export function connectError(code: string, message: string, details?: unknown) {
  return { code, message: like(message), ...(details === undefined ? {} : { details }) };
}

/**
 * Status details of an INVALID_ARGUMENT: a google.rpc.BadRequest (its bytes, unpadded base64) whose
 * field violations the edge also writes as JSON under `debug`, naming `field`.
 */
export function fieldViolations(field: string) {
  return eachLike({
    type: "google.rpc.BadRequest",
    value: regex(/^[A-Za-z0-9+/]+$/, "CjYKBG5hbWUSLm11c3QgYmUgYXQgbW9zdCAyMDAgY2hhcmFjdGVycw"),
    debug: {
      fieldViolations: eachLike({ field: like(field), description: like("must be at most 200 characters") }),
    },
  });
}

/** Login's and RefreshToken's answer: a JWT access token, an opaque refresh token, seconds to expiry. */
export function tokensBody(email?: string) {
  return {
    accessToken: regex(jwtPattern, email === undefined ? accessTokenExample : exampleAccessToken({ email })),
    refreshToken: like(examples.refreshToken),
    expiresIn: integer(900),
  };
}

/** A shipping address that passes validation. */
export const address = {
  name: "Ada Lovelace",
  line1: "1 Analytical Way",
  city: "Berlin",
  postalCode: "10115",
  countryCode: "DE",
} as const;

/** An order as the order page reads it, in `status` (exactly). */
export function orderBody(status = "ORDER_STATUS_CONFIRMED") {
  return {
    id: MatchersV3.uuid(examples.orderId),
    status,
    lines: eachLike({
      productId: MatchersV3.uuid(examples.productId),
      name: like("Ethiopian coffee, 250 g"),
      quantity: integer(2),
      lineTotal: { currencyCode: regex(/^[A-Z]{3}$/, "EUR"), amountMinor: int64("2500") },
    }),
    total: { currencyCode: regex(/^[A-Z]{3}$/, "EUR"), amountMinor: int64("2500") },
    shippingAddress: {
      name: like(address.name),
      line1: like(address.line1),
      city: like(address.city),
      postalCode: like(address.postalCode),
      countryCode: regex(/^[A-Z]{2}$/, address.countryCode),
    },
    createdAt: timestamp("2026-01-02T03:04:05.678Z"),
  };
}

/** A Storage kept in memory (the browser's is localStorage). */
export function memoryStorage(): Pick<Storage, "getItem" | "setItem" | "removeItem"> {
  const items = new Map<string, string>();
  return {
    getItem: (key) => items.get(key) ?? null,
    setItem: (key, value) => void items.set(key, value),
    removeItem: (key) => void items.delete(key),
  };
}

/** A session whose access token has expired (so the storefront refreshes before its next call). */
export function expiredSession(): Session {
  return {
    accessToken: exampleAccessToken({}, "ZXhwaXJlZA"),
    refreshToken: examples.refreshToken,
    expiresAt: Date.now() - 1_000,
    user: { id: examples.userId, email: "shopper@example.com", role: "customer" },
  };
}
