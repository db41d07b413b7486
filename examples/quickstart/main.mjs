// The quick start's producer: enqueue runs (alone, in bulk, delayed, inside a transaction,
// one that fails once) and wait for the worker to finish them. Run it with
//   npm run quickstart
// which is `reproq dev --tasks examples/quickstart/tasks.mjs --exec examples/quickstart/main.mjs`:
// dev starts PostgreSQL (embedded unless DATABASE_URL is set), migrates, runs a worker and
// runs this script with DATABASE_URL pointing at that database.
import { close, configure, getBackend, getResult, TaskResultNotFoundError } from "reproq";
import { add, flaky, greet } from "./tasks.mjs";

const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) {
  console.error("DATABASE_URL is not set; run this through `npm run quickstart` (reproq dev --exec ...)");
  process.exit(1);
}
configure({ databaseUrl });

/** One line per finished run: id, task, status, return value (or error), attempts. */
function describe(run) {
  const outcome = run.status === "SUCCESSFUL" ? JSON.stringify(run.returnValue) : run.lastError;
  const attempts = `${run.attempts} attempt${run.attempts === 1 ? "" : "s"}`;
  return `run ${run.id}  ${run.taskName}  ${run.status}  ${outcome}  (${attempts})`;
}

async function finish(run) {
  await run.wait({ timeout: 30_000 });
  console.log(`finished ${describe(run)}`);
  return run;
}

try {
  const single = await add.enqueue(1, 2);
  console.log(`enqueued run ${single.id}: quickstart.add(1, 2)`);

  const delayed = await greet.using({ runAfter: "1s" }).enqueue("Ada", new Date("2026-01-01T09:00:00Z"));
  // The same spec while the first is still waiting: deduplicated to the same run.
  const again = await greet.using({ runAfter: "1s" }).enqueue("Ada", new Date("2026-01-01T09:00:00Z"));
  console.log(
    `enqueued run ${delayed.id} to start in 1 s; enqueueing it again returned run ${again.id} (deduplicated: ${again.deduplicated})`,
  );

  const retried = await flaky.enqueue("fetch the weather");
  console.log(`enqueued run ${retried.id}: quickstart.flaky, which fails on its first attempt`);

  const bulk = await getBackend().bulkEnqueue(Array.from({ length: 100 }, (_, i) => [add, [i, i]]));
  console.log(`bulk-enqueued ${bulk.length} runs in one statement: ${bulk[0].id} .. ${bulk.at(-1).id}`);

  // Enqueue inside your own transaction: the run exists only if the transaction commits.
  const pool = await getBackend().pool();
  const client = await pool.connect();
  let rolledBack;
  try {
    await client.query("BEGIN");
    rolledBack = await add.using({ client }).enqueue(40, 2);
    await client.query("ROLLBACK");
  } finally {
    client.release();
  }
  try {
    await getResult(rolledBack.id);
    throw new Error(`run ${rolledBack.id} exists although its transaction rolled back`);
  } catch (error) {
    if (!(error instanceof TaskResultNotFoundError)) throw error;
    console.log(`run ${rolledBack.id} was enqueued in a transaction that rolled back, so it does not exist`);
  }

  const finished = await Promise.all([finish(single), finish(delayed), finish(retried)]);
  const bulkDone = await Promise.all(bulk.map((run) => run.wait({ timeout: 30_000 })));
  const succeeded = bulkDone.filter((run) => run.status === "SUCCESSFUL");
  const sum = succeeded.reduce((total, run) => total + run.returnValue, 0);
  console.log(
    `finished ${succeeded.length} of ${bulkDone.length} bulk runs successfully; their return values add up to ${sum}`,
  );

  // Exit 1 if anything failed, so `npm run quickstart` fails loudly too.
  if ([...finished, ...bulkDone].some((run) => run.status !== "SUCCESSFUL")) process.exitCode = 1;
} finally {
  await close();
}
