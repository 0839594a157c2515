/**
 * Validation of incoming requests and the fingerprint that makes PlaceOrder idempotent. No I/O.
 */
import { createHash } from "node:crypto";
import type { FieldViolation } from "@mercato/platform/errors";
import type { Address } from "@mercato/sdk/gen/mercato/common/v1/address_pb";

/** Most lines in one order. */
export const MAX_LINES = 50;
/** Most units of one product in one order. */
export const MAX_QUANTITY = 100;
const MAX_KEY_LENGTH = 200;
const MAX_TEXT = 200;
const COUNTRY = /^[A-Z]{2}$/;

/** A PlaceOrder request, as it arrives. */
export interface PlaceOrderInput {
  readonly idempotencyKey: string;
  readonly lines: readonly { readonly productId: string; readonly quantity: number }[];
  readonly paymentToken: string;
  readonly shippingAddress?: Address | undefined;
}

function addressViolations(address: Address | undefined): FieldViolation[] {
  const field = "shipping_address";
  if (address === undefined) return [{ field, description: "is required" }];
  const violations: FieldViolation[] = [];
  const required = { name: address.name, line1: address.line1, city: address.city };
  for (const [name, value] of Object.entries(required)) {
    if (value.trim() === "") violations.push({ field: `${field}.${name}`, description: "is required" });
  }
  const lengths = {
    name: address.name,
    line1: address.line1,
    line2: address.line2,
    city: address.city,
    region: address.region,
    postal_code: address.postalCode,
  };
  for (const [name, value] of Object.entries(lengths)) {
    if (value.length > MAX_TEXT) {
      violations.push({ field: `${field}.${name}`, description: `must be at most ${MAX_TEXT} characters` });
    }
  }
  if (!COUNTRY.test(address.countryCode)) {
    violations.push({
      field: `${field}.country_code`,
      description: "must be an ISO 3166-1 alpha-2 code in upper case, e.g. DE",
    });
  }
  return violations;
}

/** Every problem of a PlaceOrder request; empty when it is valid. */
export function placeOrderViolations(input: PlaceOrderInput): FieldViolation[] {
  const violations: FieldViolation[] = [];
  if (input.idempotencyKey.trim() === "") {
    violations.push({ field: "idempotency_key", description: "is required" });
  } else if (input.idempotencyKey.length > MAX_KEY_LENGTH) {
    violations.push({
      field: "idempotency_key",
      description: `must be at most ${MAX_KEY_LENGTH} characters`,
    });
  }
  if (input.lines.length === 0) {
    violations.push({ field: "lines", description: "must contain at least one line" });
  } else if (input.lines.length > MAX_LINES) {
    violations.push({ field: "lines", description: `must contain at most ${MAX_LINES} lines` });
  }
  const seen = new Set<string>();
  input.lines.forEach((line, index) => {
    const field = `lines[${index}]`;
    if (line.productId.trim() === "") {
      violations.push({ field: `${field}.product_id`, description: "is required" });
    } else if (line.productId.length > MAX_TEXT) {
      violations.push({ field: `${field}.product_id`, description: "is not a product id" });
    } else if (seen.has(line.productId)) {
      violations.push({
        field: `${field}.product_id`,
        description: "appears twice; order each product once with its full quantity",
      });
    }
    seen.add(line.productId);
    if (line.quantity < 1 || line.quantity > MAX_QUANTITY) {
      violations.push({ field: `${field}.quantity`, description: `must be between 1 and ${MAX_QUANTITY}` });
    }
  });
  if (input.paymentToken.trim() === "") {
    violations.push({ field: "payment_token", description: "is required" });
  } else if (input.paymentToken.length > MAX_TEXT) {
    violations.push({ field: "payment_token", description: `must be at most ${MAX_TEXT} characters` });
  }
  violations.push(...addressViolations(input.shippingAddress));
  return violations;
}

/**
 * Fingerprint of a PlaceOrder body for its idempotency key: the same body (lines in any order) gives
 * the same hash. The payment token enters only through its own hash, so the stored value reveals nothing.
 */
export function requestHash(userId: string, input: PlaceOrderInput): string {
  const lines = [...input.lines]
    .map((line) => [line.productId, line.quantity] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const address = input.shippingAddress;
  const canonical = JSON.stringify({
    userId,
    lines,
    token: createHash("sha256").update(input.paymentToken).digest("hex"),
    address: address
      ? [
          address.name,
          address.line1,
          address.line2,
          address.city,
          address.region,
          address.postalCode,
          address.countryCode,
        ]
      : null,
  });
  return createHash("sha256").update(canonical).digest("hex");
}
