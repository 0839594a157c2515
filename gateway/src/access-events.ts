/**
 * identity's access events, pushed to the edge: UserAccessChanged and UserDeleted as the outbox
 * relay publishes them (a plain NATS subscription on their subjects; every edge replica gets every
 * event, no durable state). A broker that is down at start-up or goes away costs only speed: the
 * access check's TTL still bounds every change, and after a reconnect every live entry is forgotten,
 * since events may have been missed meanwhile.
 */
import { fromBinary } from "@bufbuild/protobuf";
import type { Logger } from "@mercato/platform/log";
import { identityV1 } from "@mercato/sdk";
import { connect, type NatsConnection, type Subscription } from "nats";
import type { AccessCheck } from "./access.js";

/** Subjects of the events the edge applies. */
export const accessEventSubjects = {
  changed: "mercato.identity.user_access_changed",
  deleted: "mercato.identity.user_deleted",
} as const;

/** A running subscription. */
export interface AccessEvents {
  stop(): Promise<void>;
}

function apply(access: AccessCheck, subject: string, data: Uint8Array): void {
  if (subject === accessEventSubjects.deleted) {
    const event = fromBinary(identityV1.UserDeletedSchema, data);
    if (event.userId !== "") access.markDeleted(event.userId);
    return;
  }
  const event = fromBinary(identityV1.UserAccessChangedSchema, data);
  const role =
    event.role === identityV1.Role.ADMIN
      ? "admin"
      : event.role === identityV1.Role.CUSTOMER
        ? "customer"
        : undefined;
  if (event.userId === "" || role === undefined) return;
  access.applyChange(event.userId, role, Number(event.accessVersion));
}

/**
 * Subscribes to identity's access events on `natsUrl` and applies them to `access`. Never fails
 * start-up: the connection is made (and remade) in the background.
 */
export function startAccessEvents(natsUrl: string, access: AccessCheck, logger: Logger): AccessEvents {
  let connection: NatsConnection | undefined;
  let stopped = false;
  const subscriptions: Subscription[] = [];

  const consume = async (subscription: Subscription) => {
    for await (const message of subscription) {
      try {
        apply(access, message.subject, message.data);
      } catch (error) {
        logger.warn({ err: error, subject: message.subject }, "unreadable access event ignored");
      }
    }
  };

  const watch = async (nc: NatsConnection) => {
    for await (const status of nc.status()) {
      if (status.type === "reconnect") {
        access.forgetActive();
        logger.info("NATS reconnected: access answers are asked for again");
      }
    }
  };

  const run = async () => {
    const nc = await connect({
      servers: natsUrl,
      name: "gateway-access-events",
      waitOnFirstConnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
    });
    if (stopped) {
      await nc.close();
      return;
    }
    connection = nc;
    for (const subject of Object.values(accessEventSubjects)) {
      const subscription = nc.subscribe(subject);
      subscriptions.push(subscription);
      void consume(subscription);
    }
    void watch(nc);
    logger.debug({ subjects: Object.values(accessEventSubjects) }, "listening for access events");
  };
  void run().catch((error: unknown) => logger.warn({ err: error }, "cannot listen for access events"));

  return {
    async stop() {
      // A connection still being made is closed by run() once it is up.
      stopped = true;
      await connection?.close().catch(() => undefined);
    },
  };
}
