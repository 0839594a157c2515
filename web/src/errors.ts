/**
 * Errors in words a shopper understands. The edge passes a service's own message through only for
 * codes where services write client-safe text; infrastructure failures get one calm sentence.
 */
import { Code, ConnectError } from "@connectrpc/connect";

/** The sentence to show for a failed call. */
export function friendlyError(error: unknown): string {
  const err = ConnectError.from(error);
  switch (err.code) {
    case Code.Unauthenticated:
      return "Please log in to continue.";
    case Code.PermissionDenied:
      return "You don't have access to this page.";
    case Code.NotFound:
      return "We couldn't find what you were looking for.";
    case Code.ResourceExhausted:
      return "Too many tries in a short time. Please wait a minute and try again.";
    case Code.InvalidArgument:
    case Code.AlreadyExists:
    case Code.FailedPrecondition:
    case Code.OutOfRange:
      return capitalize(err.rawMessage);
    case Code.Aborted:
      return "Something changed while we were saving. Please try again.";
    default:
      return "The shop is having trouble right now. Please try again in a moment.";
  }
}

/** A cancelled order's reason, for its shopper. */
export function cancelReasonText(reason: string): string {
  if (reason.startsWith("payment declined")) {
    return "Your card was declined, so the order was cancelled. Nothing was charged; please try another card.";
  }
  if (reason.startsWith("out of stock")) return "Some items sold out before we could reserve them.";
  if (reason.startsWith("payment")) return "We couldn't take the payment, so the order was cancelled.";
  return capitalize(reason || "The order was cancelled.");
}

function capitalize(text: string): string {
  return text === "" ? "Something went wrong." : text.charAt(0).toUpperCase() + text.slice(1);
}
