/**
 * The shopper's orders, and one order whose status follows the saga and the shipment live.
 */
import { type Order, OrderStatus } from "@mercato/sdk/gen/mercato/order/v1/order_pb";
import { api } from "./api.js";
import { cancelReasonText } from "./errors.js";
import { formatMoney } from "./money.js";
import { Link } from "./router.js";
import { Alert, RemoteView, StatusBadge, useRemote, when } from "./ui.js";

/** How often an order page asks again while the order can still change. */
const pollMs = 1_000;

/** Whether an order can still change (so its page keeps polling). */
export function isOpen(order: Order | undefined): boolean {
  return order?.status !== OrderStatus.DELIVERED && order?.status !== OrderStatus.CANCELLED;
}

/** The lines and total of an order. */
export function OrderLines({ order }: { order: Order }) {
  return (
    <table className="table" aria-label="Items">
      <thead>
        <tr>
          <th scope="col">Item</th>
          <th scope="col">Quantity</th>
          <th scope="col">Price</th>
        </tr>
      </thead>
      <tbody>
        {order.lines.map((line) => (
          <tr key={line.productId}>
            <td>{line.name}</td>
            <td>{line.quantity}</td>
            <td>{formatMoney(line.lineTotal)}</td>
          </tr>
        ))}
      </tbody>
      <tfoot>
        <tr>
          <th scope="row" colSpan={2}>
            Total
          </th>
          <td>{formatMoney(order.total)}</td>
        </tr>
      </tfoot>
    </table>
  );
}

/** The signed-in shopper's orders, newest first. */
export function OrdersPage() {
  const orders = useRemote(() => api.order.listOrders({ pageSize: 50 }), []);
  return (
    <section>
      <h1>Your orders</h1>
      <RemoteView data={orders.data}>
        {({ orders: list }) =>
          list.length === 0 ? (
            <p>
              No orders yet. <Link href="/">Start shopping</Link>
            </p>
          ) : (
            <ul className="list">
              {list.map((order) => (
                <li key={order.id}>
                  <Link href={`/orders/${order.id}`}>Order of {when(order.createdAt)}</Link>{" "}
                  {formatMoney(order.total)} <StatusBadge label={OrderStatus[order.status]} />
                </li>
              ))}
            </ul>
          )
        }
      </RemoteView>
    </section>
  );
}

/** One order, polled until it is delivered or cancelled. */
export function OrderPage({ orderId }: { orderId: string }) {
  const order = useRemote(
    async () => {
      const { order } = await api.order.getOrder({ orderId });
      if (order === undefined) throw new Error("no order");
      return order;
    },
    [orderId],
    { pollMs, keepPolling: isOpen },
  );
  return (
    <section>
      <h1>Your order</h1>
      <RemoteView data={order.data}>
        {(o) => (
          <>
            <p aria-live="polite">
              Status: <StatusBadge label={OrderStatus[o.status]} />
              {isOpen(o) ? <span className="muted"> — updates automatically</span> : null}
            </p>
            {o.status === OrderStatus.CANCELLED ? <Alert>{cancelReasonText(o.cancelReason)}</Alert> : null}
            {o.trackingNumber ? <p>Tracking number: {o.trackingNumber}</p> : null}
            <OrderLines order={o} />
            {o.shippingAddress ? (
              <p className="muted">
                Ships to {o.shippingAddress.name}, {o.shippingAddress.line1}, {o.shippingAddress.postalCode}{" "}
                {o.shippingAddress.city}, {o.shippingAddress.countryCode}
              </p>
            ) : null}
            <p className="muted">
              Order {o.id} · placed {when(o.createdAt)}
            </p>
          </>
        )}
      </RemoteView>
    </section>
  );
}
