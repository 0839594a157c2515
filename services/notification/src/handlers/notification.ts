/** NotificationService handlers: validate → domain → db. */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { Database } from "@mercato/platform/db";
import {
  alreadyExists,
  invalidArgument,
  notFound,
  permissionDenied,
  quotaExceeded,
  unavailable,
} from "@mercato/platform/errors";
import type { HandlerContext, ServiceHandlers } from "@mercato/platform/grpc";
import type { Logger } from "@mercato/platform/log";
import { DestinationRefused, type OutboundClient, ResolutionUnavailable } from "@mercato/platform/outbound";
import {
  NotificationChannel,
  type NotificationSchema,
  type NotificationService,
  NotificationStatus,
  type WebhookSchema,
} from "@mercato/sdk/gen/mercato/notification/v1/notification_pb";
import { notificationsOf } from "../db/deliveries.js";
import type { DeliveryRow, schema, WebhookRow } from "../db/schema.js";
import { deleteWebhook, insertWebhook, webhooksOf } from "../db/webhooks.js";
import { newWebhookSecret } from "../domain/signature.js";
import { resolveOwner, validateWebhookUrl } from "../domain/webhooks.js";

/** What the handlers need. */
export interface NotificationHandlerDeps {
  readonly database: Database<typeof schema>;
  readonly logger: Logger;
  readonly webhookLimit: number;
  /** The guarded client: a URL is registered only if it may be sent to now. */
  readonly outbound: OutboundClient;
}

/**
 * Retry-After of the per-user webhook quota. The quota frees only when the user deletes a webhook,
 * so no time is right; a minute keeps a client from hammering while it waits for a human.
 */
export const WEBHOOK_QUOTA_RETRY_AFTER_S = 60;

const DEFAULT_PAGE_SIZE = 50;
const MAX_PAGE_SIZE = 200;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function toNotification(row: DeliveryRow): MessageInitShape<typeof NotificationSchema> {
  return {
    id: row.id,
    userId: row.userId,
    eventType: row.eventType,
    channel: row.channel === "WEBHOOK" ? NotificationChannel.WEBHOOK : NotificationChannel.LOG,
    status:
      row.status === "SENT"
        ? NotificationStatus.SENT
        : row.status === "FAILED"
          ? NotificationStatus.FAILED
          : NotificationStatus.PENDING,
    createdAt: timestampFromDate(row.createdAt),
    subject: row.subject,
    attempts: row.attempts,
    ...(row.deliveredAt ? { sentAt: timestampFromDate(row.deliveredAt) } : {}),
  };
}

function toWebhook(row: WebhookRow, withSecret: boolean): MessageInitShape<typeof WebhookSchema> {
  return {
    id: row.id,
    userId: row.userId,
    url: row.url,
    secret: withSecret ? row.secret : "",
    createdAt: timestampFromDate(row.createdAt),
  };
}

function owner(requested: string, ctx: HandlerContext): string {
  const resolved = resolveOwner(requested, ctx);
  if (resolved.ok) return resolved.userId;
  if (resolved.reason === "missing")
    throw invalidArgument([{ field: "user_id", description: "is required" }]);
  throw permissionDenied("you may only act on your own notifications and webhooks");
}

/**
 * Checks a webhook URL by the outbound policy before it is stored (it is checked again at every
 * delivery): its host must resolve, and only to addresses the policy allows.
 */
async function checkDestination(outbound: OutboundClient, url: string, logger: Logger): Promise<void> {
  try {
    await outbound.check(url);
  } catch (error) {
    if (error instanceof DestinationRefused) {
      logger.info({ reason: error.kind, detail: error.detail }, "webhook URL refused");
      throw invalidArgument([{ field: "url", description: error.message }]);
    }
    if (error instanceof ResolutionUnavailable)
      throw unavailable("cannot check the URL's host right now", error);
    throw error;
  }
}

function encodeToken(id: string): string {
  return Buffer.from(`n:${id}`).toString("base64url");
}

function decodeToken(token: string): string {
  const decoded = Buffer.from(token, "base64url").toString();
  const id = decoded.startsWith("n:") ? decoded.slice(2) : "";
  if (!UUID.test(id))
    throw invalidArgument([{ field: "page_token", description: "is not a valid page token" }]);
  return id;
}

/** Creates the NotificationService handlers. */
export function createNotificationHandlers(
  deps: NotificationHandlerDeps,
): ServiceHandlers<typeof NotificationService> {
  const { database, logger } = deps;
  return {
    async listNotifications(request, ctx) {
      if (request.pageSize < 0 || request.pageSize > MAX_PAGE_SIZE) {
        throw invalidArgument([
          { field: "page_size", description: `must be between 0 and ${MAX_PAGE_SIZE}` },
        ]);
      }
      const before = request.pageToken === "" ? undefined : decodeToken(request.pageToken);
      const userId = owner(request.userId, ctx);
      const size = request.pageSize === 0 ? DEFAULT_PAGE_SIZE : request.pageSize;
      const rows = await notificationsOf(database.db, userId, size + 1, before);
      const page = rows.slice(0, size);
      const last = page[page.length - 1];
      return {
        notifications: page.map(toNotification),
        nextPageToken: rows.length > size && last ? encodeToken(last.id) : "",
      };
    },

    async registerWebhook(request, ctx) {
      const violations = validateWebhookUrl(request.url);
      if (violations.length > 0) throw invalidArgument(violations);
      const userId = owner(request.userId, ctx);
      await checkDestination(deps.outbound, request.url, logger);
      const outcome = await database.transaction((tx) =>
        insertWebhook(tx, { userId, url: request.url, secret: newWebhookSecret() }, deps.webhookLimit),
      );
      if (outcome.kind !== "created") {
        if (outcome.kind === "duplicate") throw alreadyExists("this URL is already registered");
        throw quotaExceeded(
          `at most ${deps.webhookLimit} webhooks per user; delete one first`,
          WEBHOOK_QUOTA_RETRY_AFTER_S,
        );
      }
      // The secret is in the response only: it is never logged.
      logger.info({ webhookId: outcome.webhook.id, userId }, "webhook registered");
      return { webhook: toWebhook(outcome.webhook, true) };
    },

    async deleteWebhook(request, ctx) {
      if (!UUID.test(request.webhookId)) {
        throw invalidArgument([{ field: "webhook_id", description: "must be a UUID" }]);
      }
      const userId = owner(request.userId, ctx);
      const deleted = await database.transaction((tx) => deleteWebhook(tx, userId, request.webhookId));
      if (!deleted) throw notFound(`no webhook ${request.webhookId}`);
      logger.info({ webhookId: request.webhookId, userId }, "webhook deleted");
      return {};
    },

    async listWebhooks(request, ctx) {
      const userId = owner(request.userId, ctx);
      const rows = await webhooksOf(database.db, userId);
      return { webhooks: rows.map((row) => toWebhook(row, false)) };
    },
  };
}
