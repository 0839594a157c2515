/**
 * `pnpm start`: runs the whole system locally — a nats-server with JetStream, a PostgreSQL cluster kept
 * in .data/postgres (one database per service) unless DATABASE_URL names a server, every service and the
 * gateway as processes — seeds the demo data, prints where to go, and stops everything on Ctrl-C.
 * A process that crashes is restarted with back-off (shown on the console); one that keeps crashing
 * is reported and left stopped while the rest keep running.
 */
import { createWriteStream, mkdirSync, type WriteStream } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  type PostgresServer,
  parseReplicas,
  repoRoot,
  type SystemComponent,
  startPostgres,
  startSystem,
} from "@mercato/testing/servers";
import { demoCustomer, seedDemoData } from "./seed.js";

const root = repoRoot();
const dataDir = join(root, ".data");
const logDir = join(dataDir, "logs");
mkdirSync(logDir, { recursive: true });

const adminEmail = "admin@mercato.local";
const adminPassword = process.env.MERCATO_DEMO_ADMIN_PASSWORD || "mercato-admin";
const gatewayPort = Number(process.env.GATEWAY_PORT || 8080);
const consoleLevel = process.env.LOG_LEVEL || "info";
/** Port of the local PostgreSQL cluster: beside a system one on 5432, outside the ephemeral range. */
const postgresPort = 5433;

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

/** `--replicas order=3,payment=2,gateway=2`: processes per service (default one each). */
function replicasFromArgs(): Partial<Record<SystemComponent, number>> {
  try {
    const { values } = parseArgs({ options: { replicas: { type: "string" } }, allowPositionals: false });
    return parseReplicas(values.replicas ?? "");
  } catch (error) {
    say(`${red}${bold}pnpm start:${reset} ${(error as Error).message}`);
    say("usage: pnpm start [--replicas <service>=<n>,…]   e.g. --replicas order=3,payment=2,gateway=2");
    process.exit(2);
  }
}
const replicas = replicasFromArgs();

const startedAt = Date.now();
say(`${bold}Mercato${reset} — starting the whole system (logs in .data/logs/)`);
say(
  process.env.DATABASE_URL
    ? "database: PostgreSQL from DATABASE_URL"
    : `database: local PostgreSQL (.data/postgres, 127.0.0.1:${postgresPort})`,
);
say(
  process.env.NATS_URL
    ? `events: NATS at ${process.env.NATS_URL}`
    : "events: local nats-server with JetStream (.data/nats)",
);

const replicaList = Object.entries(replicas).filter(([, count]) => count > 1);
if (replicaList.length > 0) {
  say(`replicas: ${replicaList.map(([name, count]) => `${name} ×${count}`).join(", ")}`);
}

function fail(error: unknown): never {
  say(`\n${red}${bold}start-up failed:${reset} ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}

const localPostgres: PostgresServer | undefined = process.env.DATABASE_URL
  ? undefined
  : await startPostgres({ dataDir: join(dataDir, "postgres"), port: postgresPort }).catch(fail);

const system = await startSystem({
  fixedPorts: true,
  replicas,
  gatewayPort,
  dataDir,
  databaseUrl: process.env.DATABASE_URL || localPostgres!.url,
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
      `\n${red}${bold}✗ ${name} exited unexpectedly (${code === null ? "killed by a signal" : `code ${code}`}).${reset} Its log: .data/logs/${name}.log`,
    );
  },
  // Crashed processes come back by themselves, with back-off; one that keeps crashing is left down.
  supervise: true,
  supervisorHooks: {
    onRestarting: (name, { attempt, delayMs }) =>
      say(
        `${bold}↻${reset} restarting ${name} in ${(delayMs / 1000).toFixed(1)} s (restart ${attempt} in a row)`,
      ),
    onRestarted: (name, { elapsedMs }) =>
      say(`${bold}✓${reset} ${name} restarted and ready (${(elapsedMs / 1000).toFixed(1)} s)`),
    onGiveUp: (name, { crashes, windowMs }) => {
      say(
        `\n${red}${bold}✗ ${name} keeps crashing (${crashes} times in ${Math.round(windowMs / 1000)} s): left stopped.${reset}`,
      );
      say(
        `${red}Its log: .data/logs/${name}.log. The rest keeps running; Ctrl-C and pnpm start to try again.${reset}\n`,
      );
    },
  },
}).catch(async (error: unknown) => {
  await localPostgres?.stop();
  return fail(error);
});

const gatewayUrl = system.gatewayUrl!;
await seedDemoData(gatewayUrl, { email: adminEmail, password: adminPassword });
const seconds = ((Date.now() - startedAt) / 1000).toFixed(1);

say(`
${bold}Mercato is up in ${seconds} s.${reset}

  gateway      ${gatewayUrl}   (Connect JSON/binary, gRPC-Web, gRPC + reflection)
  storefront   ${gatewayUrl}/   (open it in a browser; the operations console is ${gatewayUrl}/console, as admin)
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
  await localPostgres?.stop();
  for (const file of logFiles.values()) file.end();
  say("stopped.");
  process.exit(0);
}
process.on("SIGINT", () => void shutdown());
process.on("SIGTERM", () => void shutdown());
