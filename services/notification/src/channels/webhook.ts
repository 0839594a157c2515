/** The webhook channel: one signed JSON POST through the kit's guarded outbound client. */
import {
  DestinationRefused,
  type OutboundClient,
  OutboundFailure,
  ResolutionUnavailable,
} from "@mercato/platform/outbound";
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
 * `Mercato-Notification-Id` through `client`, which checks the destination again (its name may
 * resolve elsewhere since registration) and connects to the address it checked. A 2xx answer is
 * success; redirects are not followed; a destination the policy refuses is a permanent failure.
 */
export async function postWebhook(
  client: OutboundClient,
  request: WebhookRequest,
  isPermanent: (status: number) => boolean,
): Promise<SendResult> {
  try {
    const response = await client.send({
      url: request.url,
      method: "POST",
      timeoutMs: request.timeoutMs,
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
    const { status } = response;
    if (status >= 200 && status < 300) return { ok: true, status };
    if (status >= 300 && status < 400) {
      return { ok: false, permanent: true, error: `receiver redirected (HTTP ${status}); not followed` };
    }
    return { ok: false, permanent: isPermanent(status), error: `receiver answered HTTP ${status}` };
  } catch (error) {
    if (error instanceof DestinationRefused) {
      return {
        ok: false,
        permanent: true,
        error: `destination not allowed: ${error.message}${error.detail ? ` (${error.detail})` : ""}`,
      };
    }
    if (error instanceof ResolutionUnavailable) return { ok: false, permanent: false, error: error.message };
    if (error instanceof OutboundFailure && error.kind === "timeout") {
      return { ok: false, permanent: false, error: `receiver did not answer within ${request.timeoutMs} ms` };
    }
    const message = error instanceof Error ? error.message : String(error);
    return { ok: false, permanent: false, error: message };
  }
}
