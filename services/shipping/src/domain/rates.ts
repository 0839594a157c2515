/**
 * The shipping rate table: a deterministic price by parcel weight and destination zone. No I/O.
 *
 * A parcel's weight is estimated from its item count ({@link ITEM_WEIGHT_GRAMS} per item, plus the
 * packaging); the zone comes from the destination country, and a few remote postal areas add a
 * surcharge.
 */

/** Shipping zones, from the warehouse in Germany. */
export type Zone = "domestic" | "eu" | "europe" | "world";

/** Estimated weight of one item, in grams. */
export const ITEM_WEIGHT_GRAMS = 500;
/** Weight of the packaging, in grams. */
export const PACKAGING_GRAMS = 200;
/** Most items one quote or shipment may hold. */
export const MAX_ITEMS = 1000;
/** Currencies quotes are given in. */
export const SUPPORTED_CURRENCIES = ["EUR", "USD", "GBP"] as const;
/** A currency quotes are given in. */
export type Currency = (typeof SUPPORTED_CURRENCIES)[number];

const HOME_COUNTRY = "DE";
const EU = new Set([
  "AT",
  "BE",
  "BG",
  "CY",
  "CZ",
  "DK",
  "EE",
  "ES",
  "FI",
  "FR",
  "GR",
  "HR",
  "HU",
  "IE",
  "IT",
  "LT",
  "LU",
  "LV",
  "MT",
  "NL",
  "PL",
  "PT",
  "RO",
  "SE",
  "SI",
  "SK",
]);
const REST_OF_EUROPE = new Set([
  "AD",
  "AL",
  "BA",
  "CH",
  "GB",
  "IS",
  "LI",
  "MC",
  "ME",
  "MK",
  "NO",
  "RS",
  "SM",
]);

/** Upper weight bound (grams) and price (EUR cents) per zone: the rate table. */
const BANDS: readonly { readonly maxGrams: number; readonly cents: Readonly<Record<Zone, number>> }[] = [
  { maxGrams: 1000, cents: { domestic: 499, eu: 999, europe: 1499, world: 2499 } },
  { maxGrams: 2000, cents: { domestic: 599, eu: 1299, europe: 1899, world: 3299 } },
  { maxGrams: 5000, cents: { domestic: 799, eu: 1699, europe: 2499, world: 4499 } },
  { maxGrams: 10_000, cents: { domestic: 1099, eu: 2299, europe: 3499, world: 6499 } },
  { maxGrams: 20_000, cents: { domestic: 1599, eu: 3299, europe: 4999, world: 9499 } },
];
/** Price per started kilogram above the last band (EUR cents). */
const PER_KG_ABOVE: Readonly<Record<Zone, number>> = { domestic: 60, eu: 120, europe: 180, world: 350 };
/** Postal-code prefixes of remote areas (islands) per country, with a flat surcharge. */
const REMOTE_AREAS: Readonly<Record<string, readonly string[]>> = {
  DE: ["18565", "25849", "25859", "25863", "25869", "25938", "25946", "25980", "26465", "26474", "26486"],
  GB: ["HS", "IV41", "KW15", "KW16", "KW17", "ZE"],
  FR: ["20"],
  IT: ["07", "08", "09"],
  ES: ["07", "35", "38"],
};
const REMOTE_SURCHARGE_CENTS = 500;
const DAYS: Readonly<Record<Zone, number>> = { domestic: 2, eu: 4, europe: 6, world: 10 };
/** Fixed conversion of the EUR table, as integer percentages (never floats on money). */
const CURRENCY_PERCENT: Readonly<Record<Currency, number>> = { EUR: 100, USD: 110, GBP: 86 };

/** The zone of an ISO 3166-1 alpha-2 country code (upper case). */
export function zoneOf(countryCode: string): Zone {
  if (countryCode === HOME_COUNTRY) return "domestic";
  if (EU.has(countryCode)) return "eu";
  if (REST_OF_EUROPE.has(countryCode)) return "europe";
  return "world";
}

/** Parcel weight in grams for `itemCount` items. */
export function parcelWeightGrams(itemCount: number): number {
  return PACKAGING_GRAMS + itemCount * ITEM_WEIGHT_GRAMS;
}

/** True when the postal code lies in a remote area of the country. */
export function isRemote(countryCode: string, postalCode: string): boolean {
  const normalized = postalCode.replace(/\s+/g, "").toUpperCase();
  if (normalized === "") return false;
  return (REMOTE_AREAS[countryCode] ?? []).some((prefix) => normalized.startsWith(prefix));
}

/** A shipping quote. */
export interface Quote {
  readonly currencyCode: Currency;
  readonly amountMinor: bigint;
  readonly estimatedDays: number;
  readonly zone: Zone;
  readonly weightGrams: number;
}

/** What a quote is for (already validated: see `validateQuoteInput`). */
export interface QuoteInput {
  readonly countryCode: string;
  readonly postalCode: string;
  readonly itemCount: number;
  readonly currencyCode: Currency;
}

/** Prices a parcel. Deterministic: the same input always gives the same quote. */
export function quote(input: QuoteInput): Quote {
  const zone = zoneOf(input.countryCode);
  const weightGrams = parcelWeightGrams(input.itemCount);
  const band = BANDS.find((b) => weightGrams <= b.maxGrams);
  let cents: number;
  if (band) {
    cents = band.cents[zone];
  } else {
    const last = BANDS[BANDS.length - 1]!;
    const extraKg = Math.ceil((weightGrams - last.maxGrams) / 1000);
    cents = last.cents[zone] + extraKg * PER_KG_ABOVE[zone];
  }
  const remote = isRemote(input.countryCode, input.postalCode);
  if (remote) cents += REMOTE_SURCHARGE_CENTS;
  // Round half up to whole minor units in the target currency.
  const converted = (BigInt(cents) * BigInt(CURRENCY_PERCENT[input.currencyCode]) + 50n) / 100n;
  return {
    currencyCode: input.currencyCode,
    amountMinor: converted,
    estimatedDays: DAYS[zone] + (remote ? 1 : 0),
    zone,
    weightGrams,
  };
}
