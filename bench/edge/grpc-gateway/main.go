// Command grpcgateway is the grpc-gateway reference for the edge benchmark: the catalog's generated
// grpc-gateway handlers (POST /mercato.catalog.v1.CatalogService/<Method>, JSON body, from
// generate_unbound_methods=true) in front of one upstream catalog over one gRPC connection.
//
// Flags: -listen 127.0.0.1:PORT, -upstream 127.0.0.1:PORT. JSON is protojson without unpopulated
// fields (like Connect's canonical JSON, so both edges send the same bytes for the same message).
package main

import (
	"context"
	"flag"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"

	catalogv1 "mercato.local/bench/grpcgateway/gen/mercato/catalog/v1"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8090", "HTTP listen address")
	upstream := flag.String("upstream", "127.0.0.1:50052", "catalog gRPC address")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	mux := runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{EmitUnpopulated: false},
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: true},
		}),
	)
	conn, err := grpc.NewClient(*upstream, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatalf("grpc client: %v", err)
	}
	defer conn.Close()
	if err := catalogv1.RegisterCatalogServiceHandler(ctx, mux, conn); err != nil {
		log.Fatalf("register: %v", err)
	}

	server := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = server.Shutdown(shutdown)
	}()
	log.Printf("grpc-gateway listening on http://%s -> %s", *listen, *upstream)
	if err := server.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		log.Print(err)
		os.Exit(1)
	}
}
