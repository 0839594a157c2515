/**
 * The app shell: header with navigation, the signed-in session and the cart, and the page for the
 * current path.
 */
import { useEffect, useState } from "react";
import { LoginPage, NotificationsPage, SignupPage } from "./account.js";
import { currentSession, logOut, onSessionChange } from "./api.js";
import { type Cart, cartCount, loadCart, saveCart } from "./cart.js";
import { CartPage } from "./checkout.js";
import { ConsolePage } from "./console.js";
import { OrderPage, OrdersPage } from "./orders.js";
import { Link, navigate, useLocation } from "./router.js";
import type { Session } from "./session.js";
import { CatalogPage, ProductPage } from "./shop.js";
import { Alert } from "./ui.js";

/** The cart as React state, saved to localStorage on every change. */
export interface CartState {
  readonly cart: Cart;
  readonly setCart: (cart: Cart) => void;
}

function useCart(): CartState {
  const [cart, setCartState] = useState(() => loadCart(localStorage));
  const setCart = (next: Cart) => {
    saveCart(localStorage, next);
    setCartState(next);
  };
  return { cart, setCart };
}

function useSession(): Session | undefined {
  const [session, setSession] = useState(currentSession);
  useEffect(() => onSessionChange(setSession), []);
  return session;
}

function Page({ session, cart }: { session: Session | undefined; cart: CartState }) {
  const { path, query } = useLocation();
  const segments = path.split("/").filter(Boolean);
  const [first, second] = segments;
  const needsLogin = (page: React.ReactNode) => (session === undefined ? <LoginPage next={path} /> : page);
  switch (first) {
    case undefined:
      return <CatalogPage query={query} />;
    case "products":
      return second ? <ProductPage productId={second} cart={cart} session={session} /> : null;
    case "login":
      return <LoginPage next={query.get("next") ?? "/"} />;
    case "signup":
      return <SignupPage />;
    case "cart":
      return <CartPage cart={cart} session={session} />;
    case "orders":
      return needsLogin(second ? <OrderPage orderId={second} /> : <OrdersPage />);
    case "notifications":
      return needsLogin(<NotificationsPage />);
    case "console":
      if (session === undefined) return <LoginPage next={path} />;
      if (session.user.role !== "admin") {
        return (
          <section>
            <h1>Operations console</h1>
            <Alert>The operations console is for shop staff only.</Alert>
          </section>
        );
      }
      return <ConsolePage tab={second ?? "stock"} detail={segments[2]} />;
    default:
      return (
        <section>
          <h1>Page not found</h1>
          <p>
            <Link href="/">Back to the shop</Link>
          </p>
        </section>
      );
  }
}

/** The whole app. */
export function App() {
  const session = useSession();
  const cart = useCart();
  const count = cartCount(cart.cart);
  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <Link href="/" className="brand">
          Mercato
        </Link>
        <nav aria-label="Main">
          <Link href="/">Shop</Link>
          <Link href="/cart" aria-label={`Cart, ${count} items`}>
            Cart <span className="count">{count}</span>
          </Link>
          {session ? (
            <>
              <Link href="/orders">Orders</Link>
              <Link href="/notifications">Notifications</Link>
              {session.user.role === "admin" ? <Link href="/console">Console</Link> : null}
              <button
                type="button"
                className="link"
                onClick={() => {
                  logOut();
                  navigate("/");
                }}
              >
                Log out
              </button>
            </>
          ) : (
            <>
              <Link href="/login">Log in</Link>
              <Link href="/signup">Sign up</Link>
            </>
          )}
        </nav>
      </header>
      <main id="main" tabIndex={-1}>
        <Page session={session} cart={cart} />
      </main>
    </>
  );
}
