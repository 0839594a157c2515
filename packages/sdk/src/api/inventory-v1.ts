// mercato.inventory.v1: the inventory service, its messages and its events.

export * from "../gen/mercato/inventory/v1/events_pb.js";
export * from "../gen/mercato/inventory/v1/inventory_pb.js";
