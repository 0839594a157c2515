import { runService, startMain, stopOnSignals } from "@mercato/platform/service";
import { loadConfig } from "./config.js";
import { catalogSpec } from "./server.js";

startMain(async () => {
  const service = await runService(catalogSpec(loadConfig()));
  stopOnSignals(service);
});
