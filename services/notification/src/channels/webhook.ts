/** The webhook channel: one signed JSON POST. */
import { EVENT_ID_HEADER, SIGNATURE_HEADER, signatureHeader } from "../domain/signature.js";

/** The result of one POST. */
export type SendResult =
  | { readonly ok: true; readonly status: number }
  | { readonly ok: false; readonly permanent: boolean; readonly error: string };

/** What one POST needs. */
export interface WebhookRequest {
  readonly url: string;
  readonly secret: string;
  readonly eventId: string;
  readonly eventType: string;
  readonly notificationId: string;
  readonly body: string;
  readonly timeoutMs: number;
}

/**
 * POSTs `body` with `Mercato-Signature`, `Mercato-Event-Id`, `Mercato-Event-Type` and
 * `Mercato-Notification-Id`. A 2xx answer is success; redirects are not followed.
 */
export async function postWebhook(
  request: WebhookRequest,
  isPermanent: (status: number) => boolean,
): Promise<SendResult> {
  try {
    const response = await fetch(request.url, {
      method: "POST",
      redirect: "manual",
      signal: AbortSignal.timeout(request.timeoutMs),
      headers: {
        "content-type": "application/json",
        "user-agent": "mercato-notification/1",
        [SIGNATURE_HEADER]: signatureHeader(request.secret, request.body),
        [EVENT_ID_HEADER]: request.eventId,
        "Mercato-Event-Type": request.eventType,
        "Mercato-Notification-Id": request.notificationId,
      },
      body: request.body,
    });
    // Drain the body so the connection can be reused; its content does not matter.
    await response.arrayBuffer().catch(() => undefined);
    if (response.status >= 200 && response.status < 300) return { ok: true, status: response.status };
    if (response.status >= 300 && response.status < 400) {
      return {
        ok: false,
        permanent: true,
        error: `receiver redirected (HTTP ${response.status}); not followed`,
      };
    }
    return {
      ok: false,
      permanent: isPermanent(response.status),
      error: `receiver answered HTTP ${response.status}`,
    };
  } catch (error) {
    const cause =
      error instanceof Error ? ((error.cause as Error | undefined)?.message ?? error.message) : String(error);
    const timedOut = error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError");
    return {
      ok: false,
      permanent: false,
      error: timedOut ? `receiver did not answer within ${request.timeoutMs} ms` : `request failed: ${cause}`,
    };
  }
}
