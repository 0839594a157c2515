/**
 * The app's only way to the back end: @mercato/sdk's typed clients over connect-web's Connect
 * transport, against the edge that served the page. An interceptor adds the access token,
 * refreshes it shortly before it expires, and on UNAUTHENTICATED refreshes once and retries.
 */
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { createMercatoClients, type MercatoClient } from "@mercato/sdk/clients";
import { loadSession, needsRefresh, type Session, saveSession, sessionOf } from "./session.js";

type Listener = (session: Session | undefined) => void;

let current: Session | undefined = loadSession(localStorage);
const listeners = new Set<Listener>();
let refreshing: Promise<Session | undefined> | undefined;

/** The signed-in session, if any. */
export function currentSession(): Session | undefined {
  return current;
}

/** Replaces the session (log in, log out, refresh) and tells the subscribers. */
export function setSession(session: Session | undefined): void {
  current = session;
  saveSession(localStorage, session);
  for (const listener of listeners) listener(session);
}

/** Calls `listener` on every session change; returns the unsubscribe function. */
export function onSessionChange(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

const transportOptions = { baseUrl: window.location.origin, useHttpGet: true } as const;

/** Clients without the auth interceptor, for refreshing (which must not recurse). */
const anonymous = createMercatoClients(createConnectTransport(transportOptions));

/** Swaps the refresh token for new tokens, once at a time; a refused refresh signs the shopper out. */
function refresh(): Promise<Session | undefined> {
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
}

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

/** One typed client per service, through the edge. */
export const api: MercatoClient = createMercatoClients(
  createConnectTransport({ ...transportOptions, interceptors: [auth] }),
);

/** Logs in and keeps the session. */
export async function logIn(email: string, password: string): Promise<Session> {
  const session = sessionOf(await anonymous.identity.login({ email, password }));
  setSession(session);
  return session;
}

/** Forgets the session (access tokens are short-lived; the refresh token is dropped with it). */
export function logOut(): void {
  setSession(undefined);
}
