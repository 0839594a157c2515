// The program connectconformance starts as the "server under test": it passes the size-delimited
// ServerCompatRequest from stdin to the test process's control port (argv[2]) and writes the
// size-delimited ServerCompatResponse it gets to stdout, then waits until the runner ends it, when it
// asks the test process to stop that edge (the test stops any left over). Plain Node with no imports of the project, so it starts at once.
const control = process.argv[2];
const chunks = [];
let started;
const stop = async () => {
  const id = await started;
  if (id) await fetch(`${control}/stop?id=${id}`, { method: "POST" }).catch(() => {});
  process.exit(0);
};
process.stdin.on("data", (chunk) => {
  if (started) return;
  chunks.push(chunk);
  const all = Buffer.concat(chunks);
  if (all.length < 4 || all.length < 4 + all.readUInt32BE(0)) return;
  started = (async () => {
    const reply = await fetch(`${control}/start`, {
      method: "POST",
      body: all.subarray(4, 4 + all.readUInt32BE(0)),
    });
    if (!reply.ok) {
      process.stderr.write(`edge under test did not start: ${await reply.text()}\n`);
      process.exit(1);
    }
    const body = Buffer.from(await reply.arrayBuffer());
    const length = Buffer.alloc(4);
    length.writeUInt32BE(body.length);
    process.stdout.write(Buffer.concat([length, body]));
    return reply.headers.get("x-edge-id");
  })();
});
// The runner closes stdin once the request is written and ends the program with a signal when done.
process.on("SIGTERM", () => void stop());
process.on("SIGINT", () => void stop());
setInterval(() => {}, 60_000); // stay alive
