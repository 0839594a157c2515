// mercato.identity.v2: users with profile and preferences.
export * from "../gen/mercato/identity/v2/identity_pb.js";
