/**
 * The kit-overhead benchmark's server: `inventory.v1.InventoryService/GetStock` answered from memory,
 * served either with the full platform kit (MODE=kit: `createGrpcServer` with tracing, the RED
 * histogram, a JSON log line per call, health, reflection, the admin port, and the lookup behind a
 * circuit breaker as a service's upstream calls are) or by a bare grpc-js server (MODE=bare) with the
 * same lookup. Env: MODE, PORT, ADMIN_PORT (kit only). Prints "listening <port>" when ready.
 */
import { createWriteStream } from "node:fs";
import type { DescService } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { ServiceError } from "@mercato/platform/errors";
import { createGrpcServer, type ServiceHandlers } from "@mercato/platform/grpc";
import { createLogger } from "@mercato/platform/log";
import { Breaker } from "@mercato/platform/resilience";
import { startTelemetry } from "@mercato/platform/telemetry";
import { InventoryService } from "@mercato/sdk/gen/mercato/inventory/v1/inventory_pb";
import { grpcServiceDefinition } from "@mercato/sdk/grpc";

const mode = process.env.MODE === "bare" ? "bare" : "kit";
const port = Number(process.env.PORT ?? 0);

const stock = new Map<string, { onHand: number; reserved: number }>();
for (let i = 0; i < 1000; i++) stock.set(`SKU-${i}`, { onHand: 100 + i, reserved: i % 7 });

/** The handler both servers share. */
async function lookup(sku: string) {
  const level = stock.get(sku) ?? { onHand: 0, reserved: 0 };
  return { sku, onHand: level.onHand, reserved: level.reserved, available: level.onHand - level.reserved };
}

if (mode === "bare") {
  const server = new grpc.Server();
  server.addService(grpcServiceDefinition(InventoryService), {
    getStock: (
      call: grpc.ServerUnaryCall<{ sku: string }, unknown>,
      callback: grpc.sendUnaryData<unknown>,
    ) => {
      lookup(call.request.sku).then(
        (response) => callback(null, response),
        (error: Error) => callback({ code: grpc.status.INTERNAL, details: error.message }),
      );
    },
  });
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (error, p) =>
      error ? reject(error) : resolve(p),
    ),
  );
  process.stdout.write(`listening ${bound}\n`);
} else {
  startTelemetry({ serviceName: "bench-kit" });
  // A log line per call, as in production, to a sink that costs what a container's stdout costs at most.
  const logger = createLogger({
    service: "bench-kit",
    level: "info",
    destination: createWriteStream("/dev/null"),
  });
  const breaker = new Breaker({ name: "bench-lookup", isFailure: () => true });
  const unimplemented = async () => {
    throw new ServiceError(grpc.status.UNIMPLEMENTED, "not served by the benchmark");
  };
  const handlers: Record<string, unknown> = {};
  for (const method of (InventoryService as DescService).methods) handlers[method.localName] = unimplemented;
  handlers.getStock = (request: { sku: string }) => breaker.run(() => lookup(request.sku));
  const server = createGrpcServer({
    serviceName: "bench-kit",
    logger,
    services: [{ service: InventoryService, handlers: handlers as ServiceHandlers<typeof InventoryService> }],
    port,
    adminPort: Number(process.env.ADMIN_PORT ?? 0),
  });
  const bound = await server.start();
  process.stdout.write(`listening ${bound.port}\n`);
}
