import { createLogger } from "@mercato/platform/log";
import { labelMetricsWithService } from "@mercato/platform/metrics";
import { startMain, stopOnSignals } from "@mercato/platform/service";
import { startTelemetry } from "@mercato/platform/telemetry";
import { loadGatewayConfig } from "./config.js";
import { buildGateway } from "./server.js";

startMain(async () => {
  const config = loadGatewayConfig();
  // Spans only when a collector is configured: without one the edge just propagates trace context.
  const tracing = config.otlpEndpoint !== undefined;
  if (tracing) startTelemetry({ serviceName: config.serviceName, otlpEndpoint: config.otlpEndpoint });
  labelMetricsWithService(config.serviceName);
  const logger = createLogger({ service: config.serviceName, level: config.logLevel });
  const gateway = buildGateway({ config, logger, tracing });
  await gateway.start();
  stopOnSignals({ stop: () => gateway.stop(), logger });
});
