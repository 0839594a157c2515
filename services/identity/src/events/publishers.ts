import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { SqlExecutor } from "@mercato/platform/db";
import { enqueueEvent, eventPayload } from "@mercato/platform/events";
import { domainStream } from "@mercato/platform/service";
import {
  UserAccessChangedSchema,
  UserDeletedSchema,
  UserRegisteredSchema,
} from "@mercato/sdk/gen/mercato/identity/v1/events_pb";
import { Role } from "@mercato/sdk/gen/mercato/identity/v1/identity_pb";
import { uuidv7 } from "uuidv7";
import type { UserRow } from "../db/users.js";

/** The stream identity's events go to: `MERCATO_IDENTITY` on `mercato.identity.>`. */
export const identityStream = domainStream("identity");

/** Subjects of identity's events. */
export const subjects = {
  userRegistered: "mercato.identity.user_registered",
  userDeleted: "mercato.identity.user_deleted",
  userAccessChanged: "mercato.identity.user_access_changed",
} as const;

/** Why a user's access changed (UserAccessChanged.reason). */
export type AccessChangeReason = "role_changed" | "password_changed" | "session_revoked";

/** Enqueues UserRegistered in the transaction that created `user`; returns the event id. */
export function publishUserRegistered(tx: SqlExecutor, user: UserRow): Promise<string> {
  const eventId = uuidv7();
  const event = create(UserRegisteredSchema, {
    eventId,
    occurredAt: timestampFromDate(user.createdAt),
    userId: user.id,
    email: user.email,
    name: user.name,
    role: user.role === "admin" ? Role.ADMIN : Role.CUSTOMER,
  });
  return enqueueEvent(tx, {
    id: eventId,
    subject: subjects.userRegistered,
    aggregateId: user.id,
    ...eventPayload(UserRegisteredSchema, event),
  });
}

/** Enqueues UserDeleted in the transaction that deleted the user; returns the event id. */
export function publishUserDeleted(tx: SqlExecutor, userId: string, at: Date): Promise<string> {
  const eventId = uuidv7();
  const event = create(UserDeletedSchema, { eventId, occurredAt: timestampFromDate(at), userId });
  return enqueueEvent(tx, {
    id: eventId,
    subject: subjects.userDeleted,
    aggregateId: userId,
    ...eventPayload(UserDeletedSchema, event),
  });
}

/** Enqueues UserAccessChanged for `user` (the row after its access version was raised); returns the event id. */
export function publishUserAccessChanged(
  tx: SqlExecutor,
  user: UserRow,
  reason: AccessChangeReason,
  at: Date,
): Promise<string> {
  const eventId = uuidv7();
  const event = create(UserAccessChangedSchema, {
    eventId,
    occurredAt: timestampFromDate(at),
    userId: user.id,
    accessVersion: BigInt(user.accessVersion),
    role: user.role === "admin" ? Role.ADMIN : Role.CUSTOMER,
    reason,
  });
  return enqueueEvent(tx, {
    id: eventId,
    subject: subjects.userAccessChanged,
    aggregateId: user.id,
    ...eventPayload(UserAccessChangedSchema, event),
  });
}
