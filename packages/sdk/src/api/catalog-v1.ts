// mercato.catalog.v1: the catalog service, its messages and its events.
export * from "../gen/mercato/catalog/v1/catalog_pb.js";
export * from "../gen/mercato/catalog/v1/events_pb.js";
