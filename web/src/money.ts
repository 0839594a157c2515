/**
 * Money for display: integer minor units and an ISO currency code, never floats.
 */

/** A Money as the SDK gives it, or as the cart stores it (minor units as a decimal string). */
export interface MoneyLike {
  readonly currencyCode: string;
  readonly amountMinor: bigint | string;
}

const formatters = new Map<string, Intl.NumberFormat>();

function formatterFor(currencyCode: string, locale: string | undefined): Intl.NumberFormat {
  const key = `${locale ?? ""}:${currencyCode}`;
  let formatter = formatters.get(key);
  if (formatter === undefined) {
    formatter = new Intl.NumberFormat(locale, { style: "currency", currency: currencyCode });
    formatters.set(key, formatter);
  }
  return formatter;
}

/**
 * Formats money in the shopper's locale, exactly: the minor units become a decimal string (so no
 * float ever rounds a price), with as many fraction digits as the currency has (2 for EUR, 0 for JPY).
 */
export function formatMoney(money: MoneyLike | undefined, locale?: string): string {
  if (money === undefined || money.currencyCode === "") return "—";
  const formatter = formatterFor(money.currencyCode, locale);
  const digits = formatter.resolvedOptions().maximumFractionDigits ?? 2;
  const minor = BigInt(money.amountMinor);
  const negative = minor < 0n;
  const text = (negative ? -minor : minor).toString().padStart(digits + 1, "0");
  const decimal = digits === 0 ? text : `${text.slice(0, -digits)}.${text.slice(-digits)}`;
  // Intl.NumberFormat formats decimal strings exactly (ES2023 Intl.NumberFormat v3).
  return formatter.format(`${negative ? "-" : ""}${decimal}` as unknown as number);
}

/** Sums amounts that share one currency; throws when they do not. */
export function sumMoney(amounts: readonly MoneyLike[]): MoneyLike | undefined {
  const first = amounts[0];
  if (first === undefined) return undefined;
  let total = 0n;
  for (const amount of amounts) {
    if (amount.currencyCode !== first.currencyCode) {
      throw new Error(`cannot add ${amount.currencyCode} to ${first.currencyCode}`);
    }
    total += BigInt(amount.amountMinor);
  }
  return { currencyCode: first.currencyCode, amountMinor: total };
}
