import { runService, startMain, stopOnSignals } from "@mercato/platform/service";
import { loadShippingConfig } from "./config.js";
import { shippingSpec } from "./server.js";

startMain(async () => {
  const service = await runService(shippingSpec(loadShippingConfig()));
  stopOnSignals(service);
});
