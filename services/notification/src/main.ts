import { runService, startMain, stopOnSignals } from "@mercato/platform/service";
import { loadNotificationConfig } from "./config.js";
import { notificationSpec } from "./server.js";

startMain(async () => {
  const service = await runService(notificationSpec(loadNotificationConfig()));
  stopOnSignals(service);
});
