import { runService, startMain, stopOnSignals } from "@mercato/platform/service";
import { loadConfig } from "./config.js";
import { identityService } from "./server.js";

startMain(async () => {
  const service = await runService(identityService(loadConfig()));
  stopOnSignals(service);
});
