/**
 * The shopping cart, kept in the browser (localStorage) so it survives reloads, log-ins and declined
 * payments. Pure functions over an immutable Cart, plus load/save.
 */
import { type MoneyLike, sumMoney } from "./money.js";

/** Most units of one product in an order (PlaceOrder's limit). */
export const maxQuantity = 100;
/** Most lines in an order (PlaceOrder's limit). */
export const maxLines = 50;

/** One product in the cart, with what the shopper saw (the order is priced again by the server). */
export interface CartLine {
  readonly productId: string;
  readonly sku: string;
  readonly name: string;
  /** Unit price; amountMinor as a decimal string (JSON has no bigint). */
  readonly unitPrice: { readonly currencyCode: string; readonly amountMinor: string };
  readonly quantity: number;
}

/** The cart. */
export interface Cart {
  readonly lines: readonly CartLine[];
}

/** A product as the catalog returns it (the fields the cart keeps). */
export interface CartProduct {
  readonly id: string;
  readonly sku: string;
  readonly name: string;
  readonly price?: MoneyLike | undefined;
}

export const emptyCart: Cart = { lines: [] };

/** Adds `quantity` units of a product (capped at {@link maxQuantity}); a new product becomes a new line. */
export function addToCart(cart: Cart, product: CartProduct, quantity = 1): Cart {
  if (!Number.isInteger(quantity) || quantity < 1)
    throw new Error("quantity must be a positive whole number");
  const existing = cart.lines.find((line) => line.productId === product.id);
  if (existing !== undefined) return setQuantity(cart, product.id, existing.quantity + quantity);
  if (cart.lines.length >= maxLines) throw new Error(`a cart holds at most ${maxLines} different products`);
  if (product.price === undefined) throw new Error(`${product.name} has no price`);
  const line: CartLine = {
    productId: product.id,
    sku: product.sku,
    name: product.name,
    unitPrice: { currencyCode: product.price.currencyCode, amountMinor: String(product.price.amountMinor) },
    quantity: Math.min(quantity, maxQuantity),
  };
  return { lines: [...cart.lines, line] };
}

/** Sets a line's quantity (capped at {@link maxQuantity}); 0 removes the line. */
export function setQuantity(cart: Cart, productId: string, quantity: number): Cart {
  if (!Number.isInteger(quantity) || quantity < 0) throw new Error("quantity must be a whole number");
  if (quantity === 0) return { lines: cart.lines.filter((line) => line.productId !== productId) };
  return {
    lines: cart.lines.map((line) =>
      line.productId === productId ? { ...line, quantity: Math.min(quantity, maxQuantity) } : line,
    ),
  };
}

/** Number of units in the cart. */
export function cartCount(cart: Cart): number {
  return cart.lines.reduce((sum, line) => sum + line.quantity, 0);
}

/** Estimated total (the server prices the order again); undefined for an empty cart. */
export function cartTotal(cart: Cart): MoneyLike | undefined {
  return sumMoney(
    cart.lines.map((line) => ({
      currencyCode: line.unitPrice.currencyCode,
      amountMinor: BigInt(line.unitPrice.amountMinor) * BigInt(line.quantity),
    })),
  );
}

function isLine(value: unknown): value is CartLine {
  if (typeof value !== "object" || value === null) return false;
  const line = value as Record<string, unknown>;
  const price = line.unitPrice as Record<string, unknown> | undefined;
  return (
    typeof line.productId === "string" &&
    typeof line.sku === "string" &&
    typeof line.name === "string" &&
    typeof line.quantity === "number" &&
    Number.isInteger(line.quantity) &&
    line.quantity >= 1 &&
    line.quantity <= maxQuantity &&
    typeof price?.currencyCode === "string" &&
    typeof price.amountMinor === "string" &&
    /^\d+$/.test(price.amountMinor)
  );
}

/** The storage key of the cart. */
export const cartKey = "mercato.cart";

/** Reads the cart; anything unreadable (another version, a hand edit) yields an empty cart. */
export function loadCart(storage: Pick<Storage, "getItem">): Cart {
  try {
    const parsed = JSON.parse(storage.getItem(cartKey) ?? "null") as { lines?: unknown } | null;
    if (parsed !== null && Array.isArray(parsed.lines) && parsed.lines.every(isLine)) {
      return { lines: parsed.lines };
    }
  } catch {
    // unreadable: start afresh
  }
  return emptyCart;
}

/** Writes the cart. */
export function saveCart(storage: Pick<Storage, "setItem">, cart: Cart): void {
  storage.setItem(cartKey, JSON.stringify(cart));
}
