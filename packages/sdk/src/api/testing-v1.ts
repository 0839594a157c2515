// mercato.testing.v1: the diagnostic probe service (internal).
export * from "../gen/mercato/testing/v1/probe_pb.js";
