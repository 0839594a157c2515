import { runService, startMain, stopOnSignals } from "@mercato/platform/service";
import { loadOrderConfig } from "./config.js";
import { orderSpec } from "./server.js";

startMain(async () => {
  const service = await runService(orderSpec(loadOrderConfig()));
  stopOnSignals(service);
});
