// The quick start: enqueue runs (alone, in bulk, inside a transaction) and read them back.
// Without DATABASE_URL it starts an embedded PostgreSQL whose data is kept under .reproq/.
import path from "node:path";
import { close, configure, getBackend, getResult, migrate } from "reproq";
import { startEmbeddedPostgres } from "reproq/embedded";
import { add, greet } from "./tasks.mjs";

let server;
let databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) {
  server = await startEmbeddedPostgres({ dataDir: path.resolve(".reproq/quickstart-pg") });
  databaseUrl = server.url;
  console.log(`Started an embedded PostgreSQL on port ${server.port}${server.reused ? " (reused)" : ""}`);
}

try {
  configure({ databaseUrl });
  const migration = await migrate();
  console.log(`Schema "${migration.schema}" is at version ${migration.current}`);

  const one = await add.enqueue(1, 2);
  const again = await add.enqueue(1, 2); // same spec while active: the same run
  console.log(
    `enqueued run ${one.id}; enqueueing it again returned run ${again.id} (deduplicated: ${again.deduplicated})`,
  );

  const later = await greet
    .using({ runAfter: "10m", priority: 50 })
    .enqueue("Ada", new Date("2026-01-01T09:00:00Z"));
  console.log(`run ${later.id} waits until ${later.runAfter.toISOString()}`);

  const bulk = await getBackend().bulkEnqueue(
    Array.from({ length: 1000 }, (_, i) => [add, [i, i], { queue: "bulk" }]),
  );
  console.log(`bulk-enqueued ${bulk.length} runs in one statement: ${bulk[0].id} .. ${bulk.at(-1).id}`);

  const pool = await getBackend().pool();
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    const inTx = await add.using({ client }).enqueue(40, 2);
    await client.query("ROLLBACK");
    console.log(`run ${inTx.id} was enqueued inside a transaction that rolled back, so it does not exist`);
  } finally {
    client.release();
  }

  const loaded = await getResult(later.id);
  console.log(
    JSON.stringify(
      {
        id: loaded.id,
        task: loaded.taskName,
        status: loaded.status,
        args: loaded.args,
        specHash: loaded.specHash,
      },
      null,
      2,
    ),
  );
} finally {
  await close();
  await server?.stop();
}
