// PostgreSQL's own cost per run of Reproq's three hot-path writes, with no worker in between:
// a bulk enqueue, then claim_runs() and settle_runs() in a loop on one connection until the
// queue is empty. Without keys, without keys and with dedupActive off, and on 1,000 concurrency
// keys (limit 1 each). Reported per run,
// as the median of the rounds; the client's share (building arrays, parsing rows) is included
// but small next to the statements.
//
//   npm run bench:sql                       # 20,000 runs, claim batches of 1,000 (keyed: 100)
//   node bench/spikes/sql-costs.mjs --runs=50000 --batch=500 --keyed-batch=50 --rounds=5
import os from "node:os";
import { performance } from "node:perf_hooks";
import { configure, getBackend } from "../../dist/index.js";
import { noop } from "../adapters/reproq-tasks.mjs";
import { fmt, machine, median, numericFlag, revision } from "../runner/lib.mjs";
import { openReproqDatabase } from "../runner/reproq-db.mjs";

const flag = numericFlag;
const RUNS = flag("runs", 20_000);
const BATCH = flag("batch", 1_000);
const KEYED_BATCH = flag("keyed-batch", 100);
const ROUNDS = flag("rounds", 3);
const KEYS = 1_000;

const bench = await openReproqDatabase({ dataDir: ".reproq/bench-pg", prefix: "reproq_sql_" });
const { sql, table } = bench;
const schema = JSON.parse(table.slice(0, table.indexOf(".")));

/** One round: fill, then claim and settle until empty; microseconds per run for each phase. */
async function round(keyed, batch, r) {
  await sql.query(`TRUNCATE ${table}`);
  const t0 = performance.now();
  for (let done = 0; done < RUNS; done += 10_000) {
    const size = Math.min(10_000, RUNS - done);
    await getBackend().bulkEnqueue(
      Array.from({ length: size }, (_, i) => {
        const n = done + i;
        const options = keyed ? { concurrencyKey: `key-${n % KEYS}`, concurrencyLimit: 1 } : undefined;
        return [noop, [`sql-${r}-${n}`], options];
      }),
    );
  }
  const enqueue = performance.now() - t0;
  await sql.query(`ANALYZE ${table}`);
  await sql.query("CHECKPOINT").catch(() => {});
  const claim = {
    name: `claim-${schema}`,
    text: `SELECT * FROM "${schema}".claim_runs('sql', $1, 60000, '{default}', '{}')`,
  };
  const settle = {
    name: `settle-${schema}`,
    text: `SELECT count(*) FROM "${schema}".settle_runs($1::bigint[], $2::uuid[], $3::text[], $4::integer[],
             $5::bigint[], $6::text[], '{}', '{}', '{}', '{}', $7)`,
  };
  let claiming = 0;
  let settling = 0;
  let claimed = 0;
  for (;;) {
    let t = performance.now();
    const { rows } = await sql.query({ ...claim, values: [batch] });
    claiming += performance.now() - t;
    const runs = rows.filter((row) => row.result_id !== null);
    if (runs.length === 0) break;
    claimed += runs.length;
    const n = runs.length;
    t = performance.now();
    await sql.query({
      ...settle,
      values: [
        `{${runs.map((row) => row.result_id).join(",")}}`,
        `{${runs.map((row) => row.lease_token).join(",")}}`,
        `{${Array(n).fill("SUCCESSFUL").join(",")}}`,
        `{${Array(n).fill(0).join(",")}}`,
        `{${Array(n).fill(0).join(",")}}`,
        Array(n).fill("null"),
        keyed,
      ],
    });
    settling += performance.now() - t;
  }
  if (claimed !== RUNS) throw new Error(`claimed ${claimed} of ${RUNS} runs`);
  const us = (msTotal) => (msTotal * 1000) / RUNS;
  return { enqueue: us(enqueue), claim: us(claiming), settle: us(settling) };
}

try {
  const rows = [];
  const cases = [
    { label: `no keys, claims of ${fmt(BATCH)}`, keyed: false, batch: BATCH, dedup: true },
    { label: `no keys, dedupActive off, claims of ${fmt(BATCH)}`, keyed: false, batch: BATCH, dedup: false },
    {
      label: `on ${fmt(KEYS)} concurrency keys (limit 1), claims of ${fmt(KEYED_BATCH)}`,
      keyed: true,
      batch: KEYED_BATCH,
      dedup: true,
    },
  ];
  for (const c of cases) {
    configure({ databaseUrl: bench.databaseUrl, cwd: os.tmpdir(), dedupActive: c.dedup });
    const results = [];
    for (let r = 0; r < ROUNDS; r++) results.push(await round(c.keyed, c.batch, r));
    const pick = (k) => median(results.map((x) => x[k])).toFixed(1);
    rows.push([c.label, pick("enqueue"), pick("claim"), pick("settle")]);
  }
  console.log(`# PostgreSQL's cost per run (${fmt(RUNS)} runs, median of ${ROUNDS} rounds)\n`);
  console.log(`- machine: ${machine()}`);
  console.log(`- revision: ${revision()}`);
  for (const line of bench.describe()) console.log(line);
  console.log("\n| runs | bulk enqueue (us/run) | claim_runs() (us/run) | settle_runs() (us/run) |");
  console.log("| --- | --- | --- | --- |");
  for (const row of rows) console.log(`| ${row.join(" | ")} |`);
} finally {
  await bench.close();
}
