/**
 * Catalog rules: request validation and rating arithmetic. No I/O.
 */

/** A field problem found while validating a request: the field's name and what is wrong with it. */
export interface Violation {
  readonly field: string;
  readonly description: string;
}

/** A price as the contract carries it: integer minor units and an ISO 4217 code. */
export interface Price {
  readonly currencyCode: string;
  readonly amountMinor: bigint;
}

export const SKU_PATTERN = /^[A-Z0-9-]{1,64}$/;
const CURRENCY_PATTERN = /^[A-Z]{3}$/;
const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Largest amount a bigint column holds. */
const MAX_AMOUNT = 9_223_372_036_854_775_807n;

export const NAME_MAX = 200;
export const DESCRIPTION_MAX = 10_000;
export const CATEGORY_NAME_MAX = 100;
export const COMMENT_MAX = 2000;
export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 200;

/** True when `value` is a UUID in its canonical textual form (any version). */
export function isUuid(value: string): boolean {
  return UUID_PATTERN.test(value);
}

/** Problems with a SKU: 1 to 64 characters of A-Z, 0-9 and "-". */
export function checkSku(sku: string, field = "sku"): Violation[] {
  if (sku === "") return [{ field, description: "must not be empty" }];
  if (!SKU_PATTERN.test(sku))
    return [{ field, description: 'must be 1 to 64 characters of A-Z, 0-9 and "-"' }];
  return [];
}

/** Problems with a product name: 1 to 200 characters, not only white space. */
export function checkProductName(name: string, field = "name"): Violation[] {
  if (name.trim() === "") return [{ field, description: "must not be empty" }];
  if ([...name].length > NAME_MAX) return [{ field, description: `must be at most ${NAME_MAX} characters` }];
  return [];
}

/** Problems with a description (may be empty). */
export function checkDescription(description: string, field = "description"): Violation[] {
  if ([...description].length > DESCRIPTION_MAX)
    return [{ field, description: `must be at most ${DESCRIPTION_MAX} characters` }];
  return [];
}

/**
 * Problems with a unit price: it must be present, its currency a 3-letter upper-case ISO code and its
 * amount positive (the contract: "amount must be positive"), within int64.
 */
export function checkPrice(price: Price | undefined, field = "price"): Violation[] {
  if (price === undefined) return [{ field, description: "is required" }];
  const problems: Violation[] = [];
  if (!CURRENCY_PATTERN.test(price.currencyCode))
    problems.push({
      field: `${field}.currency_code`,
      description: "must be a 3-letter upper-case ISO 4217 code",
    });
  if (price.amountMinor <= 0n)
    problems.push({ field: `${field}.amount_minor`, description: "must be greater than zero" });
  else if (price.amountMinor > MAX_AMOUNT)
    problems.push({ field: `${field}.amount_minor`, description: "is too large" });
  return problems;
}

/** Problems with an optional id reference: empty is fine, otherwise a UUID. */
export function checkOptionalId(id: string, field: string): Violation[] {
  if (id === "" || isUuid(id)) return [];
  return [{ field, description: "must be a UUID" }];
}

/** Problems with a required id. */
export function checkId(id: string, field: string): Violation[] {
  if (id === "") return [{ field, description: "is required" }];
  if (!isUuid(id)) return [{ field, description: "must be a UUID" }];
  return [];
}

/** Problems with a category name: 1 to 100 characters, not only white space. */
export function checkCategoryName(name: string, field = "name"): Violation[] {
  if (name.trim() === "") return [{ field, description: "must not be empty" }];
  if ([...name].length > CATEGORY_NAME_MAX)
    return [{ field, description: `must be at most ${CATEGORY_NAME_MAX} characters` }];
  return [];
}

/** Problems with a review's rating and comment. */
export function checkReview(rating: number, comment: string): Violation[] {
  const problems: Violation[] = [];
  if (!Number.isInteger(rating) || rating < 1 || rating > 5)
    problems.push({ field: "rating", description: "must be between 1 and 5" });
  if ([...comment].length > COMMENT_MAX)
    problems.push({ field: "comment", description: `must be at most ${COMMENT_MAX} characters` });
  return problems;
}

/**
 * The page size to use: 0 means the default; larger than the maximum is capped to it (AIP-158);
 * negative is an error.
 */
export function pageSize(requested: number): { size: number; problems: Violation[] } {
  if (requested < 0)
    return { size: 0, problems: [{ field: "page_size", description: "must not be negative" }] };
  if (requested === 0) return { size: DEFAULT_PAGE_SIZE, problems: [] };
  return { size: Math.min(requested, MAX_PAGE_SIZE), problems: [] };
}

/** The average of `sum` over `count` ratings; 0 when there are none. */
export function averageRating(sum: number, count: number): number {
  return count === 0 ? 0 : sum / count;
}

/** Whether two prices differ (amount or currency). */
export function priceChanged(before: Price, after: Price): boolean {
  return before.amountMinor !== after.amountMinor || before.currencyCode !== after.currencyCode;
}

/** `text` with LIKE's wildcards (`%`, `_`) and the escape character escaped, for `ILIKE '%' || x || '%'`. */
export function likePattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}
