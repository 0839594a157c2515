import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { PGlite } from "@electric-sql/pglite";

/**
 * PostgreSQL settings for an embedded database: one user, small data. The default 128 MB of shared
 * buffers is most of what a PGlite process holds.
 */
const settings = ["shared_buffers=16MB", "wal_buffers=1MB", "work_mem=4MB", "maintenance_work_mem=16MB"];

/*
 * Creating a PGlite data folder runs initdb inside WebAssembly, whose memory never shrinks: a process
 * that initialised its own folder keeps ~700 MiB. Initialising in a worker thread that then exits hands
 * that memory back, and the service opens the finished folder at ~190 MiB.
 */
const initializer = `
  const { workerData, parentPort } = require("node:worker_threads");
  const { PGlite } = require(workerData.module);
  PGlite.create(workerData.dataDir, { postgresqlconf: workerData.settings })
    .then((db) => db.close())
    .then(() => parentPort.postMessage("done"));
`;

function initializeInWorker(dataDir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(initializer, {
      eval: true,
      workerData: {
        dataDir,
        settings,
        module: createRequire(import.meta.url).resolve("@electric-sql/pglite"),
      },
    });
    worker.once("error", reject);
    worker.once("exit", (code) =>
      code === 0 ? resolve() : reject(new Error(`PGlite initdb exited with ${code}`)),
    );
  });
}

/** Opens (creating when missing) an embedded PGlite database in `dataDir`, or in memory for `memory://`. */
export async function openPglite(dataDir: string): Promise<PGlite> {
  if (!dataDir.includes("://")) {
    await mkdir(dataDir, { recursive: true });
    if (!existsSync(join(dataDir, "PG_VERSION"))) await initializeInWorker(dataDir);
  }
  return PGlite.create(dataDir, { postgresqlconf: settings });
}
