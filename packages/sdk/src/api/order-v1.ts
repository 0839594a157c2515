// mercato.order.v1: the order service, its messages and its events.

export * from "../gen/mercato/order/v1/events_pb.js";
export * from "../gen/mercato/order/v1/order_pb.js";
