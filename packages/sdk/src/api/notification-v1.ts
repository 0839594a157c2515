// mercato.notification.v1: the notification service, its messages and its events.

export * from "../gen/mercato/notification/v1/events_pb.js";
export * from "../gen/mercato/notification/v1/notification_pb.js";
