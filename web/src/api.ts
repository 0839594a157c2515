/**
 * The app's only way to the back end: the storefront client (see `client.ts`) against the edge that
 * served the page, with the session in localStorage.
 */
import type { MercatoClient } from "@mercato/sdk/clients";
import { createStorefrontClient } from "./client.js";
import type { Session } from "./session.js";

const storefront = createStorefrontClient({ baseUrl: window.location.origin, storage: localStorage });

/** One typed client per service, through the edge. */
export const api: MercatoClient = storefront.api;

/** The signed-in session, if any. */
export function currentSession(): Session | undefined {
  return storefront.currentSession();
}

/** Replaces the session (log in, log out, refresh) and tells the subscribers. */
export function setSession(session: Session | undefined): void {
  storefront.setSession(session);
}

/** Calls `listener` on every session change; returns the unsubscribe function. */
export function onSessionChange(listener: (session: Session | undefined) => void): () => void {
  return storefront.onSessionChange(listener);
}

/** Logs in and keeps the session. */
export function logIn(email: string, password: string): Promise<Session> {
  return storefront.logIn(email, password);
}

/** Forgets the session (access tokens are short-lived; the refresh token is dropped with it). */
export function logOut(): void {
  storefront.logOut();
}
