/**
 * `pnpm start`: runs the whole system locally — a nats-server with JetStream, every service and the
 * gateway as processes, embedded PostgreSQL (PGlite, one folder per service under .data/) unless
 * DATABASE_URL names a server — seeds the demo data, prints where to go, and stops everything on Ctrl-C.
 */
import { createWriteStream, mkdirSync, type WriteStream } from "node:fs";
import { join } from "node:path";
import { repoRoot, startSystem } from "@mercato/testing/servers";
import { demoCustomer, seedDemoData } from "./seed.js";

const root = repoRoot();
const dataDir = join(root, ".data");
const logDir = join(dataDir, "logs");
mkdirSync(logDir, { recursive: true });

const adminEmail = "admin@mercato.local";
const adminPassword = process.env.MERCATO_DEMO_ADMIN_PASSWORD || "mercato-admin";
const gatewayPort = Number(process.env.GATEWAY_PORT || 8080);
const consoleLevel = process.env.LOG_LEVEL || "info";

const colors = [
  "\x1b[36m",
  "\x1b[35m",
  "\x1b[33m",
  "\x1b[32m",
  "\x1b[34m",
  "\x1b[96m",
  "\x1b[95m",
  "\x1b[93m",
];
const reset = "\x1b[0m";
const bold = "\x1b[1m";
const red = "\x1b[31m";
const levels: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 };
const colorOf = new Map<string, string>();
const logFiles = new Map<string, WriteStream>();

function say(text: string): void {
  process.stdout.write(`${text}\n`);
}

function printLine(name: string, line: string): void {
  let file = logFiles.get(name);
  if (!file) {
    file = createWriteStream(join(logDir, `${name}.log`), { flags: "a" });
    logFiles.set(name, file);
  }
  file.write(`${line}\n`);
  if (!colorOf.has(name)) colorOf.set(name, colors[colorOf.size % colors.length]!);
  const tag = `${colorOf.get(name)}${name.padEnd(12)}${reset}`;
  try {
    const entry = JSON.parse(line) as { level?: string; msg?: string; err?: { message?: string } };
    if ((levels[entry.level ?? "info"] ?? 30) < (levels[consoleLevel] ?? 30)) return;
    const level = entry.level === "error" || entry.level === "fatal" ? `${red}${entry.level}${reset} ` : "";
    const error = entry.err?.message ? ` — ${entry.err.message}` : "";
    say(`${tag} ${level}${entry.msg ?? ""}${error}`);
  } catch {
    if (line.trim()) say(`${tag} ${line}`);
  }
}

const startedAt = Date.now();
say(`${bold}Mercato${reset} — starting the whole system (logs in .data/logs/)`);
say(
  process.env.DATABASE_URL
    ? "database: PostgreSQL from DATABASE_URL"
    : "database: embedded PGlite under .data/",
);
say(
  process.env.NATS_URL
    ? `events: NATS at ${process.env.NATS_URL}`
    : "events: local nats-server with JetStream (.data/nats)",
);

const system = await startSystem({
  fixedPorts: true,
  gatewayPort,
  dataDir,
  ...(process.env.DATABASE_URL ? { databaseUrl: process.env.DATABASE_URL } : {}),
  ...(process.env.NATS_URL ? { natsUrl: process.env.NATS_URL } : {}),
  env: {
    LOG_LEVEL: consoleLevel,
    IDENTITY_ADMIN_EMAIL: adminEmail,
    IDENTITY_ADMIN_PASSWORD: adminPassword,
    ...(process.env.OTEL_EXPORTER_OTLP_ENDPOINT
      ? { OTEL_EXPORTER_OTLP_ENDPOINT: process.env.OTEL_EXPORTER_OTLP_ENDPOINT }
      : {}),
  },
  readyTimeoutMs: 120_000,
  onOutput: printLine,
  onReady: (name, ms) => say(`${bold}✓${reset} ${name} ready (${(ms / 1000).toFixed(1)} s)`),
  onCrash: (name, code) => {
    say(
      `\n${red}${bold}✗ ${name} exited unexpectedly (code ${code}).${reset} Its log: .data/logs/${name}.log`,
    );
    say(`${red}The rest keeps running; restart with Ctrl-C and pnpm start.${reset}\n`);
  },
}).catch((error: unknown) => {
  say(`\n${red}${bold}start-up failed:${reset} ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});

const gatewayUrl = system.gatewayUrl!;
await seedDemoData(gatewayUrl, { email: adminEmail, password: adminPassword });
const seconds = ((Date.now() - startedAt) / 1000).toFixed(1);

say(`
${bold}Mercato is up in ${seconds} s.${reset}

  gateway      ${gatewayUrl}   (Connect JSON/binary, gRPC-Web, gRPC + reflection)
  admin        ${adminEmail} / ${adminPassword}   (local runs only)
  customer     ${demoCustomer.email} / ${demoCustomer.password}

Try:
  curl -s ${gatewayUrl}/mercato.catalog.v1.CatalogService/ListProducts -H 'content-type: application/json' -d '{"pageSize": 3}'
  curl -s ${gatewayUrl}/mercato.identity.v1.IdentityService/Login -H 'content-type: application/json' \\
       -d '{"email": "${demoCustomer.email}", "password": "${demoCustomer.password}"}'
  grpcurl -plaintext localhost:${gatewayPort} list

Ctrl-C stops everything.
`);

let stopping = false;
async function shutdown(): Promise<void> {
  if (stopping) process.exit(1);
  stopping = true;
  say("\nstopping …");
  await system.stop();
  for (const file of logFiles.values()) file.end();
  say("stopped.");
  process.exit(0);
}
process.on("SIGINT", () => void shutdown());
process.on("SIGTERM", () => void shutdown());
