/**
 * Shipment rules: validation, the status machine and tracking numbers. No I/O.
 */
import { randomBytes } from "node:crypto";
import type { FieldViolation } from "@mercato/platform/errors";
import { type Currency, MAX_ITEMS, type QuoteInput, SUPPORTED_CURRENCIES } from "./rates.js";

/** Stored shipment statuses. */
export type ShipmentState = "LABEL_CREATED" | "SHIPPED" | "DELIVERED" | "CANCELLED";

/** The carrier every shipment goes with. */
export const CARRIER = "mercato-post";

/** The address fields shipping cares about. */
export interface AddressInput {
  readonly name: string;
  readonly line1: string;
  readonly line2: string;
  readonly city: string;
  readonly region: string;
  readonly postalCode: string;
  readonly countryCode: string;
}

const COUNTRY = /^[A-Z]{2}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True for a canonical UUID string. */
export function isUuid(value: string): boolean {
  return UUID.test(value);
}

function checkAddress(
  address: AddressInput | undefined,
  field: string,
  violations: FieldViolation[],
  full: boolean,
): void {
  if (address === undefined) {
    violations.push({ field, description: "is required" });
    return;
  }
  if (!COUNTRY.test(address.countryCode)) {
    violations.push({
      field: `${field}.country_code`,
      description: "must be an ISO 3166-1 alpha-2 code in upper case, e.g. DE",
    });
  }
  if (address.postalCode.length > 16) {
    violations.push({ field: `${field}.postal_code`, description: "must be at most 16 characters" });
  }
  if (full) {
    if (address.name.trim() === "") violations.push({ field: `${field}.name`, description: "is required" });
    if (address.line1.trim() === "") violations.push({ field: `${field}.line1`, description: "is required" });
    if (address.city.trim() === "") violations.push({ field: `${field}.city`, description: "is required" });
  }
}

function checkItemCount(itemCount: number, violations: FieldViolation[]): void {
  if (!Number.isInteger(itemCount) || itemCount < 1 || itemCount > MAX_ITEMS) {
    violations.push({ field: "item_count", description: `must be between 1 and ${MAX_ITEMS}` });
  }
}

/** Validates a quote request; returns the normalized input or the violations. */
export function validateQuoteInput(request: {
  readonly address: AddressInput | undefined;
  readonly itemCount: number;
  readonly currencyCode: string;
}): { readonly input: QuoteInput } | { readonly violations: FieldViolation[] } {
  const violations: FieldViolation[] = [];
  checkAddress(request.address, "address", violations, false);
  checkItemCount(request.itemCount, violations);
  const currency = request.currencyCode === "" ? "EUR" : request.currencyCode;
  if (!(SUPPORTED_CURRENCIES as readonly string[]).includes(currency)) {
    violations.push({
      field: "currency_code",
      description: `must be one of ${SUPPORTED_CURRENCIES.join(", ")} (or empty for EUR)`,
    });
  }
  if (violations.length > 0 || request.address === undefined) return { violations };
  return {
    input: {
      countryCode: request.address.countryCode,
      postalCode: request.address.postalCode,
      itemCount: request.itemCount,
      currencyCode: currency as Currency,
    },
  };
}

/** Validates a shipment to create. */
export function validateShipmentInput(request: {
  readonly orderId: string;
  readonly userId: string;
  readonly address: AddressInput | undefined;
  readonly itemCount: number;
}): FieldViolation[] {
  const violations: FieldViolation[] = [];
  if (!isUuid(request.orderId)) violations.push({ field: "order_id", description: "must be a UUID" });
  if (request.userId.trim() === "" || request.userId.length > 128) {
    violations.push({ field: "user_id", description: "is required (at most 128 characters)" });
  }
  checkAddress(request.address, "address", violations, false);
  checkItemCount(request.itemCount, violations);
  return violations;
}

/** The status a shipment moves to from `from` by one AdvanceShipment, or undefined when it cannot move. */
export function nextStatus(from: ShipmentState): ShipmentState | undefined {
  switch (from) {
    case "LABEL_CREATED":
      return "SHIPPED";
    case "SHIPPED":
      return "DELIVERED";
    default:
      return undefined;
  }
}

/** True when an order cancellation may still cancel a shipment in this status. */
export function isCancellable(status: ShipmentState): boolean {
  return status === "LABEL_CREATED";
}

const TRACKING_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/** A new carrier tracking number: `MP` + 12 characters from an unambiguous alphabet + `DE`. */
export function newTrackingNumber(): string {
  const bytes = randomBytes(12);
  let body = "";
  for (const b of bytes) body += TRACKING_ALPHABET[b % TRACKING_ALPHABET.length];
  return `MP${body}DE`;
}

/** True when `role` (from `x-user-role`) is the admin role. */
export function isAdminRole(role: string | undefined): boolean {
  return role !== undefined && ["admin", "role_admin"].includes(role.toLowerCase());
}
