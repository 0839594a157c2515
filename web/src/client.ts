/**
 * The storefront's client for the edge: @mercato/sdk's typed clients over connect-web's Connect
 * transport, with the session kept in a Storage. An interceptor adds the access token, refreshes it
 * shortly before it expires, and on UNAUTHENTICATED refreshes once and retries. `api.ts` makes the
 * app's one instance (the page's origin, localStorage); the contract tests make their own against
 * Pact's mock server, so they run exactly this code.
 */
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { createMercatoClients, type MercatoClient } from "@mercato/sdk/clients";
import { loadSession, needsRefresh, type Session, saveSession, sessionOf } from "./session.js";

type Listener = (session: Session | undefined) => void;

/** Where the client talks to and keeps its session. */
export interface StorefrontClientOptions {
  /** The edge, e.g. the page's origin. */
  readonly baseUrl: string;
  /** Where the session is kept (localStorage in the browser). */
  readonly storage: Pick<Storage, "getItem" | "setItem" | "removeItem">;
}

/** The storefront's calls and session. */
export interface StorefrontClient {
  /** One typed client per service, through the edge, with the session's token. */
  readonly api: MercatoClient;
  /** The signed-in session, if any. */
  currentSession(): Session | undefined;
  /** Replaces the session (log in, log out, refresh) and tells the subscribers. */
  setSession(session: Session | undefined): void;
  /** Calls `listener` on every session change; returns the unsubscribe function. */
  onSessionChange(listener: Listener): () => void;
  /** Logs in and keeps the session. */
  logIn(email: string, password: string): Promise<Session>;
  /** Forgets the session (access tokens are short-lived; the refresh token is dropped with it). */
  logOut(): void;
}

/** Creates the storefront's client; side-effect-free RPCs go as HTTP GET, which caches can serve. */
export function createStorefrontClient(options: StorefrontClientOptions): StorefrontClient {
  const { storage } = options;
  let current: Session | undefined = loadSession(storage);
  const listeners = new Set<Listener>();
  let refreshing: Promise<Session | undefined> | undefined;

  const setSession = (session: Session | undefined): void => {
    current = session;
    saveSession(storage, session);
    for (const listener of listeners) listener(session);
  };

  const transportOptions = { baseUrl: options.baseUrl, useHttpGet: true } as const;
  // Without the auth interceptor, for refreshing (which must not recurse) and logging in.
  const anonymous = createMercatoClients(createConnectTransport(transportOptions));

  // Swaps the refresh token for new tokens, once at a time; a refused refresh signs the shopper out.
  const refresh = (): Promise<Session | undefined> => {
    const session = current;
    if (session === undefined) return Promise.resolve(undefined);
    refreshing ??= anonymous.identity
      .refreshToken({ refreshToken: session.refreshToken })
      .then((tokens) => {
        const next = sessionOf(tokens);
        setSession(next);
        return next;
      })
      .catch((error: unknown) => {
        if (ConnectError.from(error).code === Code.Unauthenticated) setSession(undefined);
        throw error;
      })
      .finally(() => {
        refreshing = undefined;
      });
    return refreshing;
  };

  const auth: Interceptor = (next) => async (req) => {
    if (current === undefined) return next(req);
    if (needsRefresh(current)) await refresh();
    const token = current?.accessToken;
    if (token !== undefined) req.header.set("authorization", `Bearer ${token}`);
    try {
      return await next(req);
    } catch (error) {
      if (ConnectError.from(error).code !== Code.Unauthenticated || current === undefined) throw error;
      const renewed = await refresh();
      if (renewed === undefined) throw error;
      req.header.set("authorization", `Bearer ${renewed.accessToken}`);
      return next(req);
    }
  };

  return {
    api: createMercatoClients(createConnectTransport({ ...transportOptions, interceptors: [auth] })),
    currentSession: () => current,
    setSession,
    onSessionChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async logIn(email, password) {
      const session = sessionOf(await anonymous.identity.login({ email, password }));
      setSession(session);
      return session;
    },
    logOut: () => setSession(undefined),
  };
}
