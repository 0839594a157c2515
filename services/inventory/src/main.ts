import { runService, startMain, stopOnSignals } from "@mercato/platform/service";
import { loadConfig } from "./config.js";
import { inventorySpec } from "./server.js";

startMain(async () => {
  const service = await runService(inventorySpec(loadConfig()));
  stopOnSignals(service);
});
