/**
 * The operations console (admins only; the edge enforces it, the app only hides the link): stock per
 * SKU with edits, every order with its saga timeline and shipment, the dead letters of every event
 * consumer with their errors, and the health of every service.
 */

import { Code, ConnectError } from "@connectrpc/connect";
import {
  type Order,
  OrderStatus,
  SagaState,
  SagaStep,
  SagaStepOutcome,
} from "@mercato/sdk/gen/mercato/order/v1/order_pb";
import { ShipmentStatus } from "@mercato/sdk/gen/mercato/shipping/v1/shipping_pb";
import { type FormEvent, useState } from "react";
import { api } from "./api.js";
import { friendlyError } from "./errors.js";
import { formatMoney } from "./money.js";
import { OrderLines } from "./orders.js";
import { Link } from "./router.js";
import { Alert, RemoteView, StatusBadge, useRemote, when } from "./ui.js";

const tabs = [
  { id: "stock", label: "Stock" },
  { id: "orders", label: "Orders" },
  { id: "dead-letters", label: "Dead letters" },
  { id: "health", label: "Health" },
] as const;

/** The console: one tab per concern; `/console/orders/<id>` opens an order. */
export function ConsolePage({ tab, detail }: { tab: string; detail: string | undefined }) {
  return (
    <section>
      <h1>Operations console</h1>
      <nav className="tabs" aria-label="Console">
        {tabs.map((t) => (
          <Link key={t.id} href={`/console/${t.id}`} aria-current={tab === t.id ? "page" : undefined}>
            {t.label}
          </Link>
        ))}
      </nav>
      {tab === "orders" ? (
        detail ? (
          <ConsoleOrder orderId={detail} />
        ) : (
          <ConsoleOrders />
        )
      ) : tab === "dead-letters" ? (
        <DeadLettersTab />
      ) : tab === "health" ? (
        <HealthTab />
      ) : (
        <StockTab />
      )}
    </section>
  );
}

function StockTab() {
  const stock = useRemote(async () => {
    const { products } = await api.catalog.listProducts({ pageSize: 100 });
    const levels = await Promise.all(products.map((p) => api.inventory.getStock({ sku: p.sku })));
    return products.map((product, i) => ({ product, level: levels[i]! }));
  }, []);
  return (
    <RemoteView data={stock.data}>
      {(rows) => (
        <table className="table" aria-label="Stock">
          <thead>
            <tr>
              <th scope="col">SKU</th>
              <th scope="col">Product</th>
              <th scope="col">On hand</th>
              <th scope="col">Reserved</th>
              <th scope="col">Available</th>
              <th scope="col">Set on hand</th>
            </tr>
          </thead>
          <tbody>
            {rows.map(({ product, level }) => (
              <tr key={product.sku}>
                <td>{product.sku}</td>
                <td>{product.name}</td>
                <td>{level.onHand}</td>
                <td>{level.reserved}</td>
                <td>{level.available}</td>
                <td>
                  <StockEdit sku={product.sku} onHand={level.onHand} onSaved={stock.reload} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </RemoteView>
  );
}

function StockEdit({ sku, onHand, onSaved }: { sku: string; onHand: number; onSaved: () => void }) {
  const [error, setError] = useState<string>();
  const onSubmit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const value = Number(new FormData(event.currentTarget).get("onHand"));
    setError(undefined);
    try {
      await api.inventory.setStock({ sku, onHand: value });
      onSaved();
    } catch (caught) {
      setError(friendlyError(caught));
    }
  };
  return (
    <form className="row" onSubmit={onSubmit}>
      <label className="sr-only" htmlFor={`stock-${sku}`}>
        Units on hand of {sku}
      </label>
      <input id={`stock-${sku}`} name="onHand" type="number" min={0} defaultValue={onHand} key={onHand} />
      <button type="submit">Save</button>
      {error ? <Alert>{error}</Alert> : null}
    </form>
  );
}

function ConsoleOrders() {
  const orders = useRemote(() => api.order.listAllOrders({ pageSize: 50 }), [], {
    pollMs: 3_000,
    keepPolling: () => true,
  });
  return (
    <RemoteView data={orders.data}>
      {({ orders: list }) =>
        list.length === 0 ? (
          <p className="muted">No orders yet.</p>
        ) : (
          <table className="table" aria-label="Orders">
            <thead>
              <tr>
                <th scope="col">Placed</th>
                <th scope="col">Total</th>
                <th scope="col">Status</th>
                <th scope="col">Saga</th>
              </tr>
            </thead>
            <tbody>
              {list.map((order: Order) => (
                <tr key={order.id}>
                  <td>
                    <Link href={`/console/orders/${order.id}`}>{when(order.createdAt)}</Link>
                  </td>
                  <td>{formatMoney(order.total)}</td>
                  <td>
                    <StatusBadge label={OrderStatus[order.status]} />
                  </td>
                  <td className="muted">
                    {SagaState[order.saga?.state ?? 0]} · {SagaStep[order.saga?.step ?? 0]}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )
      }
    </RemoteView>
  );
}

function ConsoleOrder({ orderId }: { orderId: string }) {
  const detail = useRemote(
    async () => {
      const [{ order }, timeline] = await Promise.all([
        api.order.getOrder({ orderId }),
        api.order.getSagaTimeline({ orderId }),
      ]);
      // Shipping creates the shipment when it sees OrderConfirmed; until then there is none.
      const shipment = await api.shipping.getShipment({ orderId }).then(
        (answer) => answer.shipment,
        (error: unknown) => {
          if (ConnectError.from(error).code === Code.NotFound) return undefined;
          throw error;
        },
      );
      return { order: order!, timeline, shipment };
    },
    [orderId],
    { pollMs: 2_000, keepPolling: () => true },
  );
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  return (
    <RemoteView data={detail.data}>
      {({ order, timeline, shipment }) => (
        <>
          <h2>
            Order <code>{order.id}</code> <StatusBadge label={OrderStatus[order.status]} />
          </h2>
          <p className="muted">
            Customer {order.userId} · placed {when(order.createdAt)}
            {order.cancelReason ? ` · cancelled: ${order.cancelReason}` : ""}
          </p>
          <OrderLines order={order} />
          <h3>Shipment</h3>
          {shipment ? (
            <div className="row">
              <span data-testid="shipment">
                Status: <StatusBadge label={ShipmentStatus[shipment.status]} />
                {shipment.trackingNumber ? ` · tracking ${shipment.trackingNumber}` : ""}
              </span>
              <button
                type="button"
                disabled={
                  busy ||
                  shipment.status === ShipmentStatus.DELIVERED ||
                  shipment.status === ShipmentStatus.CANCELLED
                }
                onClick={async () => {
                  setBusy(true);
                  setError(undefined);
                  try {
                    await api.shipping.advanceShipment({ shipmentId: shipment.id });
                    detail.reload();
                  } catch (caught) {
                    setError(friendlyError(caught));
                  } finally {
                    setBusy(false);
                  }
                }}
              >
                Advance shipment
              </button>
            </div>
          ) : (
            <p className="muted">No shipment yet.</p>
          )}
          {error ? <Alert>{error}</Alert> : null}
          <h3>Saga timeline</h3>
          <p>
            {SagaState[timeline.saga?.state ?? 0]} at {SagaStep[timeline.saga?.step ?? 0]}
            {timeline.lastError ? <span className="muted"> · last error: {timeline.lastError}</span> : null}
          </p>
          <ol className="timeline" aria-label="Saga timeline">
            {timeline.entries.map((entry) => (
              <li
                key={`${entry.step}-${entry.attempt}-${entry.outcome}`}
                className={entry.compensation ? "compensation" : undefined}
              >
                <strong>{SagaStep[entry.step]}</strong>
                {entry.compensation ? " (compensation)" : ""} —{" "}
                <StatusBadge label={SagaStepOutcome[entry.outcome]} /> attempt {entry.attempt}
                {entry.detail ? `: ${entry.detail}` : ""} <span className="muted">{when(entry.at)}</span>
              </li>
            ))}
          </ol>
        </>
      )}
    </RemoteView>
  );
}

/**
 * One cheap read per service, through the edge: a service that answers (even "not found") is up; one
 * the edge cannot reach answers UNAVAILABLE or DEADLINE_EXCEEDED. This is health as a shopper's call
 * sees it: the service, its database and the edge's route to it.
 */
const probes: readonly { readonly service: string; readonly call: () => Promise<unknown> }[] = [
  { service: "identity", call: () => api.identity.getJwks({}) },
  { service: "catalog", call: () => api.catalog.listCategories({ pageSize: 1 }) },
  { service: "inventory", call: () => api.inventory.getStock({ sku: "HEALTH-PROBE" }) },
  { service: "order", call: () => api.order.getOrderStatistics({}) },
  {
    service: "payment",
    call: () =>
      api.payment.getPayment({ key: { case: "orderId", value: "00000000-0000-7000-8000-000000000000" } }),
  },
  {
    service: "shipping",
    call: () => api.shipping.quoteShipping({ address: { countryCode: "DE" }, itemCount: 1 }),
  },
  { service: "notification", call: () => api.notification.listNotifications({ pageSize: 1 }) },
];

const answered = new Set([Code.NotFound, Code.InvalidArgument, Code.FailedPrecondition]);

async function probe(call: () => Promise<unknown>): Promise<{ state: string; ms: number; error: string }> {
  const started = performance.now();
  try {
    await call();
    return { state: "SERVING", ms: Math.round(performance.now() - started), error: "" };
  } catch (caught) {
    const error = ConnectError.from(caught);
    const ms = Math.round(performance.now() - started);
    if (answered.has(error.code)) return { state: "SERVING", ms, error: "" };
    return { state: "UNREACHABLE", ms, error: `${Code[error.code]}: ${error.rawMessage}` };
  }
}

function HealthTab() {
  const health = useRemote(
    () => Promise.all(probes.map(async (p) => ({ service: p.service, ...(await probe(p.call)) }))),
    [],
    { pollMs: 5_000, keepPolling: () => true },
  );
  return (
    <RemoteView data={health.data}>
      {(rows) => (
        <table className="table" aria-label="Service health">
          <thead>
            <tr>
              <th scope="col">Service</th>
              <th scope="col">State</th>
              <th scope="col">Answer time</th>
              <th scope="col">Error</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => (
              <tr key={row.service}>
                <td>{row.service}</td>
                <td>
                  <StatusBadge label={row.state} />
                </td>
                <td>{row.ms} ms</td>
                <td className="muted">{row.error}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </RemoteView>
  );
}

/** Messages the event consumers gave up on, grouped by consumer, with the error each one met. */
function DeadLettersTab() {
  const letters = useRemote(() => api.order.listDeadLetters({ pageSize: 200 }), [], {
    pollMs: 5_000,
    keepPolling: () => true,
  });
  return (
    <RemoteView data={letters.data}>
      {({ deadLetters }) => {
        if (deadLetters.length === 0)
          return <p className="muted">No dead letters: every event was handled.</p>;
        const consumers = [...new Set(deadLetters.map((d) => d.consumer))].sort();
        return consumers.map((consumer) => (
          <section key={consumer}>
            <h2>{consumer}</h2>
            <table className="table" aria-label={`Dead letters of ${consumer}`}>
              <thead>
                <tr>
                  <th scope="col">When</th>
                  <th scope="col">Event</th>
                  <th scope="col">Deliveries</th>
                  <th scope="col">Error</th>
                </tr>
              </thead>
              <tbody>
                {deadLetters
                  .filter((d) => d.consumer === consumer)
                  .map((d) => (
                    <tr key={String(d.sequence)}>
                      <td>{when(d.deadAt)}</td>
                      <td>
                        {d.eventType || d.subject}
                        <br />
                        <span className="muted">
                          {d.stream} #{String(d.streamSequence)}
                        </span>
                      </td>
                      <td>{d.deliveries}</td>
                      <td>{d.error}</td>
                    </tr>
                  ))}
              </tbody>
            </table>
          </section>
        ));
      }}
    </RemoteView>
  );
}
