// Command smoke is a Mercato customer in Go: over gRPC through the edge it registers a customer, logs in,
// lists products, orders one unit of the first product with the test card tok_visa, and reads the order
// back until the saga has settled. It prints the order as JSON on stdout.
//
//	MERCATO_EDGE=127.0.0.1:8080 go run ./examples/smoke
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"time"

	catalogv1 "github.com/mercato/mercato/sdk/go/mercato/catalog/v1"
	commonv1 "github.com/mercato/mercato/sdk/go/mercato/common/v1"
	identityv1 "github.com/mercato/mercato/sdk/go/mercato/identity/v1"
	orderv1 "github.com/mercato/mercato/sdk/go/mercato/order/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "smoke:", err)
		os.Exit(1)
	}
}

func run() error {
	edge := os.Getenv("MERCATO_EDGE")
	if edge == "" {
		edge = "127.0.0.1:8080"
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	conn, err := grpc.NewClient(edge, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("connect to %s: %w", edge, err)
	}
	defer conn.Close()
	identity := identityv1.NewIdentityServiceClient(conn)
	catalog := catalogv1.NewCatalogServiceClient(conn)
	orders := orderv1.NewOrderServiceClient(conn)

	email := fmt.Sprintf("go-smoke-%s@example.com", randomHex(6))
	const password = "a long enough secret"
	if _, err := identity.Register(ctx, &identityv1.RegisterRequest{Email: email, Password: password, Name: "Go Smoke"}); err != nil {
		return fmt.Errorf("register: %w", err)
	}
	login, err := identity.Login(ctx, &identityv1.LoginRequest{Email: email, Password: password})
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	// The edge reads the caller from a bearer token in the request metadata.
	authed := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+login.GetAccessToken())

	listed, err := catalog.ListProducts(ctx, &catalogv1.ListProductsRequest{PageSize: 10})
	if err != nil {
		return fmt.Errorf("list products: %w", err)
	}
	if len(listed.GetProducts()) == 0 {
		return errors.New("the catalog is empty")
	}
	product := listed.GetProducts()[0]

	placed, err := orders.PlaceOrder(authed, &orderv1.PlaceOrderRequest{
		IdempotencyKey: "go-smoke-" + randomHex(8),
		Lines:          []*orderv1.PlaceOrderLine{{ProductId: product.GetId(), Quantity: 1}},
		PaymentToken:   "tok_visa",
		ShippingAddress: &commonv1.Address{
			Name: "Go Smoke", Line1: "1 Main St", City: "Berlin", PostalCode: "10115", CountryCode: "DE",
		},
	})
	if err != nil {
		return fmt.Errorf("place order: %w", err)
	}

	order := placed.GetOrder()
	for order.GetStatus() == orderv1.OrderStatus_ORDER_STATUS_PENDING {
		select {
		case <-ctx.Done():
			return fmt.Errorf("order %s still pending: %w", order.GetId(), ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
		got, err := orders.GetOrder(authed, &orderv1.GetOrderRequest{OrderId: order.GetId()})
		if err != nil {
			return fmt.Errorf("get order: %w", err)
		}
		order = got.GetOrder()
	}
	out, err := protojson.Marshal(order)
	if err != nil {
		return err
	}
	fmt.Println(string(out))
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
