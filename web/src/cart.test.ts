import { describe, expect, it } from "vitest";
import {
  addToCart,
  cartCount,
  cartKey,
  cartTotal,
  emptyCart,
  loadCart,
  maxLines,
  maxQuantity,
  saveCart,
  setQuantity,
} from "./cart.js";

const euro = (amountMinor: bigint) => ({ currencyCode: "EUR", amountMinor });
const tea = { id: "p-tea", sku: "TEA", name: "Tea", price: euro(450n) };
const pot = { id: "p-pot", sku: "POT", name: "Teapot", price: euro(1999n) };

/** A Storage over a Map: the real localStorage's contract, for Node. */
function memoryStorage(initial: Record<string, string> = {}) {
  const items = new Map(Object.entries(initial));
  return {
    getItem: (key: string) => items.get(key) ?? null,
    setItem: (key: string, value: string) => void items.set(key, value),
    items,
  };
}

describe("cart", () => {
  it("adds products, merges repeats into one line, and totals exactly in minor units", () => {
    let cart = addToCart(emptyCart, tea, 2);
    cart = addToCart(cart, pot);
    cart = addToCart(cart, tea);
    expect(cart.lines.map((l) => [l.sku, l.quantity])).toEqual([
      ["TEA", 3],
      ["POT", 1],
    ]);
    expect(cartCount(cart)).toBe(4);
    expect(cartTotal(cart)).toEqual(euro(3349n));
    expect(cartTotal(emptyCart)).toBeUndefined();
  });

  it("caps quantities, removes a line at 0 and refuses nonsense", () => {
    const cart = addToCart(emptyCart, tea, 250);
    expect(cart.lines[0]?.quantity).toBe(maxQuantity);
    expect(setQuantity(cart, tea.id, 0).lines).toEqual([]);
    expect(() => addToCart(cart, tea, 0)).toThrow(/positive/);
    expect(() => addToCart(cart, tea, 1.5)).toThrow(/positive/);
    expect(() => setQuantity(cart, tea.id, -1)).toThrow(/whole/);
    expect(() => addToCart(emptyCart, { id: "x", sku: "X", name: "Mystery" })).toThrow(/no price/);
  });

  it("holds at most the lines an order may have", () => {
    let cart = emptyCart;
    for (let i = 0; i < maxLines; i++) cart = addToCart(cart, { ...tea, id: `p${i}`, sku: `S${i}` });
    expect(() => addToCart(cart, pot)).toThrow(/at most 50/);
  });

  it("refuses to add up different currencies", () => {
    const cart = addToCart(addToCart(emptyCart, tea), {
      ...pot,
      price: { currencyCode: "USD", amountMinor: 5n },
    });
    expect(() => cartTotal(cart)).toThrow(/cannot add USD to EUR/);
  });

  it("survives a round trip through storage, and reads anything malformed as empty", () => {
    const storage = memoryStorage();
    const cart = addToCart(addToCart(emptyCart, tea, 2), pot);
    saveCart(storage, cart);
    expect(loadCart(storage)).toEqual(cart);
    for (const bad of ["{", "null", '{"lines":[{"productId":"p","quantity":-1}]}', '{"lines":"x"}']) {
      expect(loadCart(memoryStorage({ [cartKey]: bad }))).toEqual(emptyCart);
    }
    expect(loadCart(memoryStorage())).toEqual(emptyCart);
  });
});
