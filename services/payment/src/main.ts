import { runService, startMain, stopOnSignals } from "@mercato/platform/service";
import { loadPaymentConfig } from "./config.js";
import { paymentService } from "./server.js";

startMain(async () => {
  const config = loadPaymentConfig();
  stopOnSignals(await runService(paymentService(config)));
});
