/**
 * The cart and checkout: quantities, the estimated total, the shipping address and a test card.
 * Placing an order waits for the saga's answer here, so a declined card is told on this page and
 * the cart stays as it was for another try; a confirmed order empties the cart.
 */

import { OrderStatus } from "@mercato/sdk/gen/mercato/order/v1/order_pb";
import { type FormEvent, useState } from "react";
import type { CartState } from "./App.js";
import { api } from "./api.js";
import { cartTotal, emptyCart, maxQuantity, setQuantity } from "./cart.js";
import { placeOrderAndWait } from "./checkout-order.js";
import { cancelReasonText, friendlyError } from "./errors.js";
import { formatMoney } from "./money.js";
import { Link, navigate } from "./router.js";
import type { Session } from "./session.js";
import { Alert } from "./ui.js";

/** The payment provider's test tokens (services/payment), as a shopper would read them. */
export const testCards = [
  { token: "tok_visa", label: "Test Visa (approved)" },
  { token: "tok_chargeDeclined", label: "Test card that is declined" },
  { token: "tok_insufficientFunds", label: "Test card without funds" },
] as const;

/** The cart page, with checkout below it. */
export function CartPage({ cart, session }: { cart: CartState; session: Session | undefined }) {
  const { lines } = cart.cart;
  const [error, setError] = useState<string>();
  const [phase, setPhase] = useState<"idle" | "placing" | "waiting">("idle");
  // One key per checkout attempt: a retried request is the same order, a new attempt a new one.
  const [attemptKey, setAttemptKey] = useState(() => crypto.randomUUID());

  const onCheckout = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const data = new FormData(event.currentTarget);
    const text = (name: string) => String(data.get(name) ?? "").trim();
    setError(undefined);
    setPhase("placing");
    try {
      const order = await placeOrderAndWait(
        api,
        {
          idempotencyKey: attemptKey,
          lines,
          card: text("card"),
          address: {
            name: text("ship-name"),
            line1: text("line1"),
            line2: text("line2"),
            city: text("city"),
            region: text("region"),
            postalCode: text("postal"),
            countryCode: text("country"),
          },
        },
        { onPlaced: () => setPhase("waiting") },
      );
      if (order.status === OrderStatus.CANCELLED) {
        setError(cancelReasonText(order.cancelReason));
        setAttemptKey(crypto.randomUUID());
        setPhase("idle");
        return;
      }
      cart.setCart(emptyCart);
      navigate(`/orders/${order.id}`);
    } catch (caught) {
      setError(friendlyError(caught));
      setAttemptKey(crypto.randomUUID());
      setPhase("idle");
    }
  };

  if (lines.length === 0) {
    return (
      <section>
        <h1>Your cart</h1>
        <p>
          Your cart is empty. <Link href="/">Browse the shop</Link>
        </p>
      </section>
    );
  }
  return (
    <section>
      <h1>Your cart</h1>
      <table className="table" aria-label="Cart">
        <thead>
          <tr>
            <th scope="col">Product</th>
            <th scope="col">Price</th>
            <th scope="col">Quantity</th>
            <th scope="col">
              <span className="sr-only">Remove</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {lines.map((line) => (
            <tr key={line.productId} data-testid="cart-line">
              <td>
                <Link href={`/products/${line.productId}`}>{line.name}</Link>
              </td>
              <td>{formatMoney(line.unitPrice)}</td>
              <td>
                <input
                  type="number"
                  min={1}
                  max={maxQuantity}
                  value={line.quantity}
                  aria-label={`Quantity of ${line.name}`}
                  onChange={(event) =>
                    cart.setCart(
                      setQuantity(
                        cart.cart,
                        line.productId,
                        Math.max(1, Math.floor(Number(event.target.value) || 1)),
                      ),
                    )
                  }
                />
              </td>
              <td>
                <button
                  type="button"
                  className="link"
                  onClick={() => cart.setCart(setQuantity(cart.cart, line.productId, 0))}
                >
                  Remove <span className="sr-only">{line.name}</span>
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <p className="price">
        Estimated total: <span data-testid="cart-total">{formatMoney(cartTotal(cart.cart))}</span>
      </p>
      {session === undefined ? (
        <p>
          <Link href="/login?next=/cart">Log in</Link> or <Link href="/signup">sign up</Link> to check out.
        </p>
      ) : (
        <form className="stack checkout" onSubmit={onCheckout} aria-busy={phase !== "idle"}>
          <h2>Checkout</h2>
          <fieldset>
            <legend>Shipping address</legend>
            <label htmlFor="ship-name">Full name</label>
            <input id="ship-name" name="ship-name" autoComplete="name" required />
            <label htmlFor="line1">Street and number</label>
            <input id="line1" name="line1" autoComplete="address-line1" required />
            <label htmlFor="line2">Apartment, floor (optional)</label>
            <input id="line2" name="line2" autoComplete="address-line2" />
            <label htmlFor="city">City</label>
            <input id="city" name="city" autoComplete="address-level2" required />
            <label htmlFor="region">Region (optional)</label>
            <input id="region" name="region" autoComplete="address-level1" />
            <label htmlFor="postal">Postal code</label>
            <input id="postal" name="postal" autoComplete="postal-code" required />
            <label htmlFor="country">Country code</label>
            <input
              id="country"
              name="country"
              autoComplete="country"
              required
              pattern="[A-Za-z]{2}"
              maxLength={2}
              aria-describedby="country-hint"
            />
            <small id="country-hint" className="muted">
              Two letters, for example DE or US.
            </small>
          </fieldset>
          <fieldset>
            <legend>Payment (test cards)</legend>
            {testCards.map((card, index) => (
              <label key={card.token} className="choice">
                <input type="radio" name="card" value={card.token} defaultChecked={index === 0} />{" "}
                {card.label}
              </label>
            ))}
          </fieldset>
          {error ? <Alert>{error}</Alert> : null}
          <button type="submit" disabled={phase !== "idle"}>
            {phase === "placing"
              ? "Placing order…"
              : phase === "waiting"
                ? "Confirming payment…"
                : "Place order"}
          </button>
        </form>
      )}
    </section>
  );
}
