/**
 * The delivery worker: sends the pending rows of the delivery log through their channels. The log is a
 * durable work queue: rows are claimed with `FOR UPDATE SKIP LOCKED` (so replicas share the work and a
 * killed process's rows are released with its connection), retried with exponential backoff and
 * jitter up to a bounded number of attempts, then marked FAILED and dead-lettered (through the
 * outbox) with the reason.
 */
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { Database, SqlExecutor } from "@mercato/platform/db";
import { DEAD_LETTER_PREFIX, DLQ_HEADERS, enqueueEvent, eventPayload } from "@mercato/platform/events";
import type { Logger } from "@mercato/platform/log";
import type { OutboundClient } from "@mercato/platform/outbound";
import { NotificationSentSchema } from "@mercato/sdk/gen/mercato/notification/v1/events_pb";
import { NotificationChannel } from "@mercato/sdk/gen/mercato/notification/v1/notification_pb";
import { uuidv7 } from "uuidv7";
import { postWebhook } from "../channels/webhook.js";
import {
  type ClaimedDelivery,
  claimDueDeliveries,
  DELIVERY_CHANNEL,
  markFailed,
  markRetry,
  markSent,
} from "../db/deliveries.js";
import type { DeliveryRow, schema } from "../db/schema.js";
import { afterFailure, type BackoffSettings, isPermanentHttpFailure } from "../domain/backoff.js";

/** Subject of NotificationSent. */
export const NOTIFICATION_SENT_SUBJECT = "mercato.notification.notification_sent";
/** Type name written on dead-lettered webhook deliveries (the payload is the JSON body). */
export const WEBHOOK_DEAD_LETTER_TYPE = "mercato.notification.webhook_delivery+json";

/** Options for {@link startDeliveryWorker}. */
export interface DeliveryWorkerOptions {
  readonly database: Database<typeof schema>;
  readonly logger: Logger;
  readonly batchSize: number;
  readonly pollMs: number;
  readonly maxAttempts: number;
  readonly backoff: BackoffSettings;
  readonly timeoutMs: number;
  /** The guarded client webhooks go through (checks each destination again before sending). */
  readonly outbound: OutboundClient;
  /** Dead-letter subject for webhook deliveries given up on. */
  readonly deadLetterSubject: string;
}

/** A running worker. */
export interface DeliveryWorker {
  /** Stops claiming, finishes the batch in hand. */
  stop(): Promise<void>;
  /** Runs one batch now (tests); resolves with the number of deliveries handled. */
  runOnce(): Promise<number>;
}

/** The default dead-letter subject for a consumer-name prefix. */
export function webhookDeadLetterSubject(prefix = ""): string {
  return `${DEAD_LETTER_PREFIX}.${prefix}notification-webhook`;
}

type Outcome =
  | { readonly kind: "sent" }
  | { readonly kind: "failed"; readonly error: string; readonly permanent: boolean }
  /** Not attempted because an earlier delivery to the same endpoint just failed transiently. */
  | { readonly kind: "skipped"; readonly error: string; readonly retryAt: Date | undefined };

/** Starts the worker loop: woken by NOTIFY, else polling every `pollMs`. */
export async function startDeliveryWorker(options: DeliveryWorkerOptions): Promise<DeliveryWorker> {
  const { database, logger } = options;
  const log = logger.child({ component: "delivery-worker" });

  async function sent(tx: SqlExecutor, delivery: DeliveryRow, attempts: number): Promise<void> {
    await markSent(tx, delivery.id, attempts);
    const event = create(NotificationSentSchema, {
      eventId: uuidv7(),
      occurredAt: timestampFromDate(new Date()),
      notificationId: delivery.id,
      userId: delivery.userId,
      eventType: delivery.eventType,
      channel: delivery.channel === "WEBHOOK" ? NotificationChannel.WEBHOOK : NotificationChannel.LOG,
    });
    await enqueueEvent(tx, {
      id: event.eventId,
      subject: NOTIFICATION_SENT_SUBJECT,
      aggregateId: delivery.userId,
      ...eventPayload(NotificationSentSchema, event),
    });
  }

  async function giveUp(
    tx: SqlExecutor,
    delivery: DeliveryRow,
    attempts: number,
    error: string,
  ): Promise<void> {
    await markFailed(tx, delivery.id, attempts, error);
    await enqueueEvent(tx, {
      subject: options.deadLetterSubject,
      aggregateId: delivery.id,
      type: WEBHOOK_DEAD_LETTER_TYPE,
      payload: new TextEncoder().encode(JSON.stringify(delivery.payload)),
      headers: {
        [DLQ_HEADERS.error]: error.slice(0, 2000).replace(/[\r\n]+/g, " "),
        [DLQ_HEADERS.consumer]: "notification-webhook",
        [DLQ_HEADERS.deliveries]: String(attempts),
        "Mercato-Dlq-Original-Event-Id": delivery.eventId,
        "Mercato-Dlq-Original-Event-Type": delivery.eventType,
        "Mercato-Notification-Id": delivery.id,
        "Mercato-Webhook-Id": delivery.endpoint,
      },
    });
    log.error(
      {
        notificationId: delivery.id,
        eventId: delivery.eventId,
        webhookId: delivery.endpoint,
        attempts,
        error,
      },
      "webhook delivery failed for good; dead-lettered",
    );
  }

  async function record(
    tx: SqlExecutor,
    claimed: ClaimedDelivery,
    outcome: Outcome,
  ): Promise<Date | undefined> {
    const { delivery } = claimed;
    const attempts = delivery.attempts + 1;
    if (outcome.kind === "sent") {
      await sent(tx, delivery, attempts);
      return undefined;
    }
    const permanent = outcome.kind === "failed" && outcome.permanent;
    const verdict = afterFailure(attempts, options.maxAttempts, permanent, options.backoff);
    if (verdict.kind === "give_up") {
      await giveUp(tx, delivery, attempts, outcome.error);
      return undefined;
    }
    const retryAt =
      outcome.kind === "skipped" && outcome.retryAt
        ? outcome.retryAt
        : new Date(Date.now() + verdict.delayMs);
    await markRetry(tx, delivery.id, attempts, outcome.error, retryAt);
    log.warn(
      { notificationId: delivery.id, eventId: delivery.eventId, attempts, retryAt, error: outcome.error },
      "webhook delivery failed; will retry",
    );
    return retryAt;
  }

  async function deliver(claimed: ClaimedDelivery): Promise<Outcome> {
    const { delivery, webhook } = claimed;
    if (delivery.channel === "LOG") {
      log.info(
        {
          channel: "log",
          notificationId: delivery.id,
          userId: delivery.userId,
          eventId: delivery.eventId,
          eventType: delivery.eventType,
          subject: delivery.payload.subject,
          text: delivery.payload.text,
        },
        `notification: ${delivery.payload.subject}`,
      );
      return { kind: "sent" };
    }
    if (webhook === undefined) return { kind: "failed", permanent: true, error: "webhook deleted" };
    const result = await postWebhook(
      options.outbound,
      {
        url: webhook.url,
        secret: webhook.secret,
        eventId: delivery.eventId,
        eventType: delivery.eventType,
        notificationId: delivery.id,
        body: JSON.stringify(delivery.payload),
        timeoutMs: options.timeoutMs,
      },
      isPermanentHttpFailure,
    );
    if (result.ok) {
      log.debug({ notificationId: delivery.id, eventId: delivery.eventId }, "webhook delivered");
      return { kind: "sent" };
    }
    return { kind: "failed", permanent: result.permanent, error: result.error };
  }

  /** Sends one endpoint's deliveries in order; after a transient failure the rest wait with it. */
  async function deliverGroup(tx: SqlExecutor, group: ClaimedDelivery[]): Promise<void> {
    let blocked: { error: string; retryAt: Date | undefined } | undefined;
    for (const claimed of group) {
      if (blocked) {
        await record(tx, claimed, { kind: "skipped", error: blocked.error, retryAt: blocked.retryAt });
        continue;
      }
      const outcome = await deliver(claimed);
      const retryAt = await record(tx, claimed, outcome);
      if (outcome.kind === "failed" && !outcome.permanent) {
        blocked = {
          error: `not attempted: an earlier delivery to this endpoint failed (${outcome.error})`,
          retryAt,
        };
      }
    }
  }

  async function runOnce(): Promise<number> {
    return database.transaction(async (tx) => {
      const claimed = await claimDueDeliveries(tx, options.batchSize);
      if (claimed.length === 0) return 0;
      const groups = new Map<string, ClaimedDelivery[]>();
      for (const c of claimed) {
        const key = `${c.delivery.channel}:${c.delivery.endpoint}`;
        const group = groups.get(key) ?? [];
        group.push(c);
        groups.set(key, group);
      }
      for (const group of groups.values()) group.sort((a, b) => (a.delivery.id < b.delivery.id ? -1 : 1));
      await Promise.all([...groups.values()].map((group) => deliverGroup(tx, group)));
      return claimed.length;
    });
  }

  let stopping = false;
  let wake: (() => void) | undefined;
  // Set by a notification that arrives while a batch runs, so the loop goes again at once.
  let signalled = false;
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      if (signalled || stopping) {
        signalled = false;
        resolve();
        return;
      }
      const timer = setTimeout(() => {
        wake = undefined;
        resolve();
      }, ms);
      wake = () => {
        clearTimeout(timer);
        signalled = false;
        wake = undefined;
        resolve();
      };
    });
  const unlisten = await database.listen(DELIVERY_CHANNEL, () => {
    signalled = true;
    wake?.();
  });

  let failures = 0;
  async function loop(): Promise<void> {
    while (!stopping) {
      try {
        const handled = await runOnce();
        failures = 0;
        if (handled < options.batchSize) await sleep(options.pollMs);
      } catch (error) {
        if (stopping) break;
        failures++;
        log.error({ err: error, failures }, "delivery batch failed; backing off");
        await sleep(Math.min(30_000, options.pollMs * 2 ** Math.min(failures, 10)));
      }
    }
  }
  const running = loop();
  log.info({ batchSize: options.batchSize, maxAttempts: options.maxAttempts }, "delivery worker started");

  let stopped: Promise<void> | undefined;
  return {
    runOnce,
    stop() {
      stopped ??= (async () => {
        stopping = true;
        wake?.();
        await running;
        await unlisten().catch(() => undefined);
        log.info("delivery worker stopped");
      })();
      return stopped;
    },
  };
}
