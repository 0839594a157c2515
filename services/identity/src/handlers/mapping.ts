import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Role, type UserSchema } from "@mercato/sdk/gen/mercato/identity/v1/identity_pb";
import {
  Role as RoleV2,
  type UserSchema as UserV2Schema,
} from "@mercato/sdk/gen/mercato/identity/v2/identity_pb";
import type { UserRow } from "../db/users.js";
import type { UserRole } from "../domain/rules.js";

/** The contract's role for a stored role. */
export function toProtoRole(role: UserRole): Role {
  return role === "admin" ? Role.ADMIN : Role.CUSTOMER;
}

/** The stored role for a contract role; undefined for ROLE_UNSPECIFIED and unknown values. */
export function fromProtoRole(role: Role | RoleV2): UserRole | undefined {
  if (role === Role.ADMIN) return "admin";
  if (role === Role.CUSTOMER) return "customer";
  return undefined;
}

/** A stored user as a v1 User. */
export function toUserV1(user: UserRow): MessageInitShape<typeof UserSchema> {
  return {
    id: user.id,
    email: user.email,
    name: user.name,
    role: toProtoRole(user.role),
    createdAt: timestampFromDate(user.createdAt),
    updatedAt: timestampFromDate(user.updatedAt),
  };
}

/** A stored user as a v2 User, with profile and preferences. */
export function toUserV2(user: UserRow): MessageInitShape<typeof UserV2Schema> {
  return {
    id: user.id,
    email: user.email,
    name: user.name,
    role: user.role === "admin" ? RoleV2.ADMIN : RoleV2.CUSTOMER,
    profile: { displayName: user.displayName, avatarUrl: user.avatarUrl, bio: user.bio },
    preferences: { locale: user.locale, marketingOptIn: user.marketingOptIn, currency: user.currency },
    createdAt: timestampFromDate(user.createdAt),
    updatedAt: timestampFromDate(user.updatedAt),
  };
}
