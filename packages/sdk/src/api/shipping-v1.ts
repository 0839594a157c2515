// mercato.shipping.v1: the shipping service, its messages and its events.

export * from "../gen/mercato/shipping/v1/events_pb.js";
export * from "../gen/mercato/shipping/v1/shipping_pb.js";
