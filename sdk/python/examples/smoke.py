"""A Mercato customer in Python: over gRPC through the edge it registers a customer, logs in, lists
products, orders one unit of the first product with the test card tok_visa, and reads the order back
until the saga has settled. It prints the order as JSON on stdout.

    MERCATO_EDGE=127.0.0.1:8080 PYTHONPATH=sdk/python/src python sdk/python/examples/smoke.py
"""

import os
import secrets
import sys
import time

import grpc
from google.protobuf import json_format

from mercato.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from mercato.common.v1 import address_pb2
from mercato.identity.v1 import identity_pb2, identity_pb2_grpc
from mercato.order.v1 import order_pb2, order_pb2_grpc


def main() -> int:
    edge = os.environ.get("MERCATO_EDGE", "127.0.0.1:8080")
    deadline = time.monotonic() + 60
    with grpc.insecure_channel(edge) as channel:
        identity = identity_pb2_grpc.IdentityServiceStub(channel)
        catalog = catalog_pb2_grpc.CatalogServiceStub(channel)
        orders = order_pb2_grpc.OrderServiceStub(channel)

        email = f"py-smoke-{secrets.token_hex(6)}@example.com"
        password = "a long enough secret"
        identity.Register(
            identity_pb2.RegisterRequest(email=email, password=password, name="Python Smoke"), timeout=10
        )
        login = identity.Login(identity_pb2.LoginRequest(email=email, password=password), timeout=10)
        # The edge reads the caller from a bearer token in the request metadata.
        auth = [("authorization", f"Bearer {login.access_token}")]

        products = catalog.ListProducts(catalog_pb2.ListProductsRequest(page_size=10), timeout=10).products
        if not products:
            print("smoke: the catalog is empty", file=sys.stderr)
            return 1

        order = orders.PlaceOrder(
            order_pb2.PlaceOrderRequest(
                idempotency_key=f"py-smoke-{secrets.token_hex(8)}",
                lines=[order_pb2.PlaceOrderLine(product_id=products[0].id, quantity=1)],
                payment_token="tok_visa",
                shipping_address=address_pb2.Address(
                    name="Python Smoke", line1="1 Main St", city="Berlin", postal_code="10115", country_code="DE"
                ),
            ),
            metadata=auth,
            timeout=30,
        ).order
        while order.status == order_pb2.ORDER_STATUS_PENDING:
            if time.monotonic() > deadline:
                print(f"smoke: order {order.id} still pending", file=sys.stderr)
                return 1
            time.sleep(0.2)
            order = orders.GetOrder(order_pb2.GetOrderRequest(order_id=order.id), metadata=auth, timeout=10).order
    print(json_format.MessageToJson(order, indent=None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
