/**
 * Signing up, logging in, and the shopper's notifications.
 */
import { NotificationStatus } from "@mercato/sdk/gen/mercato/notification/v1/notification_pb";
import { type FormEvent, useState } from "react";
import { api, logIn } from "./api.js";
import { friendlyError } from "./errors.js";
import { Link, navigate } from "./router.js";
import { Alert, RemoteView, StatusBadge, useRemote, when } from "./ui.js";

/** Submits a form, with a busy flag and an error sentence. */
function useSubmit(action: (data: FormData) => Promise<void>) {
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const onSubmit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await action(new FormData(event.currentTarget));
    } catch (caught) {
      setError(friendlyError(caught));
      setBusy(false);
    }
  };
  return { error, busy, onSubmit };
}

const field = (data: FormData, name: string) => String(data.get(name) ?? "").trim();

/** Log in; then go on to `next`. */
export function LoginPage({ next }: { next: string }) {
  const { error, busy, onSubmit } = useSubmit(async (data) => {
    await logIn(field(data, "email"), String(data.get("password") ?? ""));
    navigate(next.startsWith("/") && !next.startsWith("//") ? next : "/", { replace: true });
  });
  return (
    <section className="narrow">
      <h1>Log in</h1>
      <form className="stack" onSubmit={onSubmit}>
        <label htmlFor="email">Email</label>
        <input id="email" name="email" type="email" autoComplete="email" required />
        <label htmlFor="password">Password</label>
        <input id="password" name="password" type="password" autoComplete="current-password" required />
        {error ? <Alert>{error}</Alert> : null}
        <button type="submit" disabled={busy}>
          {busy ? "Logging in…" : "Log in"}
        </button>
      </form>
      <p>
        New here? <Link href="/signup">Create an account</Link>
      </p>
    </section>
  );
}

/** Sign up, then log in at once. */
export function SignupPage() {
  const { error, busy, onSubmit } = useSubmit(async (data) => {
    const email = field(data, "email");
    const password = String(data.get("password") ?? "");
    await api.identity.register({ email, password, name: field(data, "name") });
    await logIn(email, password);
    navigate("/", { replace: true });
  });
  return (
    <section className="narrow">
      <h1>Create an account</h1>
      <form className="stack" onSubmit={onSubmit}>
        <label htmlFor="name">Name</label>
        <input id="name" name="name" autoComplete="name" required />
        <label htmlFor="email">Email</label>
        <input id="email" name="email" type="email" autoComplete="email" required />
        <label htmlFor="password">Password</label>
        <input
          id="password"
          name="password"
          type="password"
          autoComplete="new-password"
          minLength={8}
          required
          aria-describedby="password-hint"
        />
        <small id="password-hint" className="muted">
          At least 8 characters.
        </small>
        {error ? <Alert>{error}</Alert> : null}
        <button type="submit" disabled={busy}>
          {busy ? "Creating…" : "Sign up"}
        </button>
      </form>
      <p>
        Already have an account? <Link href="/login">Log in</Link>
      </p>
    </section>
  );
}

/** What the shop told the shopper (order and shipping updates), newest first. */
export function NotificationsPage() {
  const notifications = useRemote(() => api.notification.listNotifications({ pageSize: 50 }), [], {
    pollMs: 5_000,
    keepPolling: () => true,
  });
  return (
    <section>
      <h1>Notifications</h1>
      <RemoteView data={notifications.data}>
        {({ notifications: list }) =>
          list.length === 0 ? (
            <p className="muted">Nothing yet. Updates about your orders appear here.</p>
          ) : (
            <ul className="list">
              {list.map((n) => (
                <li key={n.id}>
                  <strong>{n.subject || n.eventType}</strong>{" "}
                  <span className="muted">{when(n.createdAt)}</span>{" "}
                  <StatusBadge label={NotificationStatus[n.status]} />
                </li>
              ))}
            </ul>
          )
        }
      </RemoteView>
    </section>
  );
}
