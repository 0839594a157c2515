/**
 * Typed Connect clients for Node.js scripts and tests, over HTTP/1.1 to the Mercato gateway.
 *
 * ```ts
 * const mercato = createMercatoClient("http://localhost:8080");
 * const { accessToken } = await mercato.identity.login({ email, password });
 * const authed = createMercatoClient("http://localhost:8080", { token: accessToken });
 * const { products } = await authed.catalog.listProducts({ pageSize: 10 });
 * ```
 *
 * @module
 */
import type { Interceptor, Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import {
  bearerAuth,
  createMercatoClients,
  type MercatoClient,
  type TokenSource,
  withBearerToken,
} from "./clients.js";

export { bearerAuth, createMercatoClients, type MercatoClient, type TokenSource, withBearerToken };

/** Options of {@link createMercatoClient}. */
export interface MercatoClientOptions {
  /** Access token sent as `authorization: Bearer <token>`; a function is asked before every call. */
  readonly token?: TokenSource;
  /** Use the binary protobuf encoding instead of JSON. Default false. */
  readonly useBinary?: boolean;
  /** Send side-effect-free RPCs (Get*, List*, Quote*) as HTTP GET, which caches can serve. Default false. */
  readonly useHttpGet?: boolean;
  /** Deadline of every call in milliseconds, unless the call sets `timeoutMs`. Default none. */
  readonly defaultTimeoutMs?: number;
  /** More interceptors, run after the bearer token one. Ignored when `transport` is given. */
  readonly interceptors?: readonly Interceptor[];
  /**
   * A ready transport to use instead of connect-node's, for example connect-web's
   * `createConnectTransport({ baseUrl, fetch })` in a browser; `baseUrl`, `useBinary`, `useHttpGet`
   * and `defaultTimeoutMs` are then the transport's business. `token` still applies.
   */
  readonly transport?: Transport;
}

/**
 * Creates one typed Connect client per Mercato service against the gateway at `baseUrl`
 * (for example `http://localhost:8080`), using the Connect protocol over HTTP/1.1.
 */
export function createMercatoClient(baseUrl: string, options: MercatoClientOptions = {}): MercatoClient {
  const { token, transport } = options;
  if (transport !== undefined) {
    return createMercatoClients(token === undefined ? transport : withBearerToken(transport, token));
  }
  const interceptors: Interceptor[] = [
    ...(token === undefined ? [] : [bearerAuth(token)]),
    ...(options.interceptors ?? []),
  ];
  return createMercatoClients(
    createConnectTransport({
      baseUrl,
      httpVersion: "1.1",
      useBinaryFormat: options.useBinary ?? false,
      useHttpGet: options.useHttpGet ?? false,
      interceptors,
      ...(options.defaultTimeoutMs === undefined ? {} : { defaultTimeoutMs: options.defaultTimeoutMs }),
    }),
  );
}
