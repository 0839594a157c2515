// mercato.payment.v1: the payment service, its messages and its events.

export * from "../gen/mercato/payment/v1/events_pb.js";
export * from "../gen/mercato/payment/v1/payment_pb.js";
