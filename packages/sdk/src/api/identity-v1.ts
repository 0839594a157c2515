// mercato.identity.v1: users, tokens, JWKS, and the identity events.

export * from "../gen/mercato/identity/v1/events_pb.js";
export * from "../gen/mercato/identity/v1/identity_pb.js";
