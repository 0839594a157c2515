/**
 * Browsing: the catalog (category filter, search, paging) and a product with its reviews.
 */
import { type FormEvent, useState } from "react";
import type { CartState } from "./App.js";
import { api } from "./api.js";
import { addToCart } from "./cart.js";
import { friendlyError } from "./errors.js";
import { formatMoney } from "./money.js";
import { Link, navigate } from "./router.js";
import type { Session } from "./session.js";
import { Alert, RemoteView, useRemote, when } from "./ui.js";

const pageSize = 12;

/** The catalog: `?q=` searches, `?category=` filters; pages are followed with their tokens. */
export function CatalogPage({ query }: { query: URLSearchParams }) {
  const q = query.get("q") ?? "";
  const category = query.get("category") ?? "";
  // Tokens of the pages before the current one, and the current one's ("" is the first page).
  const [tokens, setTokens] = useState<string[]>([""]);
  const [filterKey, setFilterKey] = useState(`${q}|${category}`);
  if (filterKey !== `${q}|${category}`) {
    setFilterKey(`${q}|${category}`);
    setTokens([""]);
  }
  const token = tokens.at(-1) ?? "";
  const categories = useRemote(() => api.catalog.listCategories({ pageSize: 100 }), []);
  const products = useRemote(
    () => api.catalog.listProducts({ pageSize, pageToken: token, query: q, categoryId: category }),
    [q, category, token],
  );
  const apply = (next: { q?: string; category?: string }) => {
    const params = new URLSearchParams();
    const nextQ = next.q ?? q;
    const nextCategory = next.category ?? category;
    if (nextQ) params.set("q", nextQ);
    if (nextCategory) params.set("category", nextCategory);
    const search = params.toString();
    navigate(search ? `/?${search}` : "/");
  };
  const onSearch = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    apply({ q: String(new FormData(event.currentTarget).get("q") ?? "").trim() });
  };
  return (
    <section>
      <h1>Shop</h1>
      <div className="filters">
        <search>
          <form onSubmit={onSearch} className="row">
            <label htmlFor="search">Search products</label>
            <input id="search" name="q" type="search" defaultValue={q} key={q} />
            <button type="submit">Search</button>
          </form>
        </search>
        <div className="row">
          <label htmlFor="category">Category</label>
          <select
            id="category"
            value={category}
            onChange={(event) => apply({ category: event.target.value })}
          >
            <option value="">All categories</option>
            {categories.data.state === "loaded"
              ? categories.data.value.categories.map((c) => (
                  <option key={c.id} value={c.id}>
                    {c.name}
                  </option>
                ))
              : null}
          </select>
        </div>
      </div>
      <RemoteView data={products.data}>
        {({ products: items, nextPageToken }) => (
          <>
            {items.length === 0 ? <p>No products match. Try another search or category.</p> : null}
            <ul className="grid" aria-label="Products">
              {items.map((product) => (
                <li key={product.id} className="card">
                  <h2>
                    <Link href={`/products/${product.id}`}>{product.name}</Link>
                  </h2>
                  <p className="muted">{product.description}</p>
                  <p className="price">{formatMoney(product.price)}</p>
                </li>
              ))}
            </ul>
            <nav className="row pager" aria-label="Pages">
              <button
                type="button"
                disabled={tokens.length < 2}
                onClick={() => setTokens(tokens.slice(0, -1))}
              >
                Previous page
              </button>
              <span className="muted">Page {tokens.length}</span>
              <button
                type="button"
                disabled={nextPageToken === ""}
                onClick={() => setTokens([...tokens, nextPageToken])}
              >
                Next page
              </button>
            </nav>
          </>
        )}
      </RemoteView>
    </section>
  );
}

/** One product: price, availability, add to cart, reviews (and writing one when signed in). */
export function ProductPage({
  productId,
  cart,
  session,
}: {
  productId: string;
  cart: CartState;
  session: Session | undefined;
}) {
  const product = useRemote(async () => {
    const { product } = await api.catalog.getProduct({ productId });
    if (product === undefined) throw new Error("no product");
    const stock = await api.inventory.getStock({ sku: product.sku });
    return { product, available: stock.available };
  }, [productId]);
  const reviews = useRemote(() => api.catalog.listReviews({ productId, pageSize: 20 }), [productId]);
  const [quantity, setQuantity] = useState(1);
  const [notice, setNotice] = useState<{ kind: "error" | "success"; text: string }>();
  return (
    <RemoteView data={product.data}>
      {({ product: p, available }) => (
        <article>
          <h1>{p.name}</h1>
          <p className="price">{formatMoney(p.price)}</p>
          <p>{p.description}</p>
          <p className="muted">
            SKU {p.sku} · {available > 0 ? `${available} in stock` : "Out of stock"}
          </p>
          <form
            className="row"
            onSubmit={(event) => {
              event.preventDefault();
              try {
                cart.setCart(addToCart(cart.cart, p, quantity));
                setNotice({ kind: "success", text: `Added ${quantity} × ${p.name} to your cart.` });
              } catch (error) {
                setNotice({ kind: "error", text: (error as Error).message });
              }
            }}
          >
            <label htmlFor="quantity">Quantity</label>
            <input
              id="quantity"
              type="number"
              min={1}
              max={100}
              value={quantity}
              onChange={(event) => setQuantity(Math.max(1, Math.floor(Number(event.target.value) || 1)))}
            />
            <button type="submit" disabled={available <= 0}>
              Add to cart
            </button>
          </form>
          {notice ? <Alert kind={notice.kind}>{notice.text}</Alert> : null}
          <h2>Reviews</h2>
          <RemoteView data={reviews.data}>
            {({ reviews: list }) =>
              list.length === 0 ? (
                <p className="muted">No reviews yet.</p>
              ) : (
                <ul className="list">
                  {list.map((review) => (
                    <li key={review.id}>
                      <strong aria-hidden="true">
                        {"★".repeat(review.rating)}
                        {"☆".repeat(5 - review.rating)}
                      </strong>
                      <span className="sr-only">{review.rating} out of 5 stars</span> {review.comment}{" "}
                      <span className="muted">{when(review.createdAt)}</span>
                    </li>
                  ))}
                </ul>
              )
            }
          </RemoteView>
          {session ? <ReviewForm productId={productId} onAdded={reviews.reload} /> : null}
        </article>
      )}
    </RemoteView>
  );
}

function ReviewForm({ productId, onAdded }: { productId: string; onAdded: () => void }) {
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const onSubmit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = event.currentTarget;
    const data = new FormData(form);
    setBusy(true);
    setError(undefined);
    try {
      await api.catalog.addReview({
        productId,
        rating: Number(data.get("rating")),
        comment: String(data.get("comment") ?? ""),
      });
      form.reset();
      onAdded();
    } catch (caught) {
      setError(friendlyError(caught));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="stack" onSubmit={onSubmit}>
      <h3>Write a review</h3>
      <label htmlFor="rating">Rating</label>
      <select id="rating" name="rating" defaultValue="5">
        {[5, 4, 3, 2, 1].map((n) => (
          <option key={n} value={n}>
            {n} star{n === 1 ? "" : "s"}
          </option>
        ))}
      </select>
      <label htmlFor="comment">Comment</label>
      <textarea id="comment" name="comment" rows={3} maxLength={2000} />
      {error ? <Alert>{error}</Alert> : null}
      <button type="submit" disabled={busy}>
        {busy ? "Sending…" : "Post review"}
      </button>
    </form>
  );
}
