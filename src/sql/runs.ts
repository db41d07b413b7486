/**
 * Producer-side queries on task_runs: inserting runs (one statement for any number of rows,
 * deduplicated against active runs by the unique partial index) and reading them back.
 */

import { Buffer } from "node:buffer";
import { preparedStatement, qualify } from "../db/names.js";
import type { Queryable } from "../db/pool.js";
import type { TaskStatus } from "../status.js";

/** A row of task_runs as the driver returns it (bigint ids as strings, timestamps as Dates). */
export interface TaskRunRow {
  result_id: string;
  queue_name: string;
  priority: number;
  run_after: Date;
  spec_json: Record<string, unknown>;
  spec_hash: string;
  dedup_key: string | null;
  task_path: string;
  status: TaskStatus;
  enqueued_at: Date;
  started_at: Date | null;
  last_attempted_at: Date | null;
  finished_at: Date | null;
  attempts: number;
  max_attempts: number;
  timeout_seconds: number;
  lock_key: string | null;
  concurrency_key: string | null;
  concurrency_limit: number;
  worker_ids: string[];
  return_json: unknown;
  errors_json: unknown[];
  metadata_json: Record<string, unknown>;
  provenance_json: Record<string, unknown>;
  last_error: string | null;
  leased_until: Date | null;
  leased_by: string | null;
  lease_token: string | null;
  expires_at: Date | null;
  parent_id: string | null;
  workflow_id: string | null;
  wait_count: number;
  cancel_requested: boolean;
  logs_uri: string | null;
  updated_at: Date;
}

/** Everything needed to insert one run. Times are either absolute or a delay from the database clock. */
export interface NewRun {
  queueName: string;
  priority: number;
  /** Absolute start time, or null to use `now() + delayMs`. */
  runAt: Date | null;
  delayMs: number;
  specJson: string;
  specHash: string;
  dedupKey: string | null;
  taskPath: string;
  maxAttempts: number;
  timeoutSeconds: number;
  lockKey: string | null;
  concurrencyKey: string | null;
  concurrencyLimit: number;
  /** Expiry as a delay from the database clock at insert, or null for none. */
  expiresInMs: number | null;
  provenanceJson: string;
  status: "READY" | "WAITING";
  parentId: string | null;
  workflowId: string | null;
  waitCount: number;
}

export interface InsertOutcome {
  /** The inserted row, or null when an active run with the same dedup key already existed. */
  row: TaskRunRow | null;
}

/** The per-run fields that runs of one bulk usually share; each distinct combination is sent once. */
type Template = Omit<NewRun, "specJson" | "specHash" | "dedupKey"> & { dedup: boolean };

/** Every field of a Template except `dedup` (derived from the run's dedupKey). */
const TEMPLATE_FIELDS = [
  "queueName",
  "priority",
  "runAt",
  "delayMs",
  "taskPath",
  "maxAttempts",
  "timeoutSeconds",
  "lockKey",
  "concurrencyKey",
  "concurrencyLimit",
  "expiresInMs",
  "provenanceJson",
  "status",
  "parentId",
  "workflowId",
  "waitCount",
] as const satisfies ReadonlyArray<Exclude<keyof Template, "dedup">>;

function sameTemplate(t: Template, r: NewRun): boolean {
  if (t.dedup !== (r.dedupKey !== null)) return false;
  for (const field of TEMPLATE_FIELDS) if (t[field] !== r[field]) return false;
  return true;
}

function templateOf(r: NewRun): Template {
  const t = { dedup: r.dedupKey !== null } as Record<keyof Template, unknown>;
  for (const field of TEMPLATE_FIELDS) t[field] = r[field];
  return t as Template;
}

function templateKey(t: Template): string {
  return JSON.stringify([
    ...TEMPLATE_FIELDS.map((field) => (field === "runAt" ? (t.runAt?.getTime() ?? null) : t[field])),
    t.dedup,
  ]);
}

/**
 * Separates runs within the one text parameter. U+0001 can occur in no JSON text (control characters
 * must be escaped inside strings and are not whitespace outside them) and in no hex hash.
 */
const SEP = "\u0001";

/**
 * A freshly inserted run, built from what was sent plus the column defaults instead of read back
 * (RETURNING * for 10,000 rows costs more than the insert). JSON columns are parsed on first use.
 * test/bulk-and-transactions.test.ts checks every field against the stored row.
 */
class InsertedRow implements TaskRunRow {
  result_id: string;
  queue_name: string;
  priority: number;
  run_after: Date;
  spec_hash: string;
  dedup_key: string | null;
  task_path: string;
  status: TaskStatus;
  enqueued_at: Date;
  started_at: Date | null = null;
  last_attempted_at: Date | null = null;
  finished_at: Date | null = null;
  attempts = 0;
  max_attempts: number;
  timeout_seconds: number;
  lock_key: string | null;
  concurrency_key: string | null;
  concurrency_limit: number;
  return_json: unknown = null;
  last_error: string | null = null;
  leased_until: Date | null = null;
  leased_by: string | null = null;
  lease_token: string | null = null;
  expires_at: Date | null;
  parent_id: string | null;
  workflow_id: string | null;
  wait_count: number;
  cancel_requested = false;
  logs_uri: string | null = null;
  updated_at: Date;
  #specText: string;
  #provenanceText: string;
  #spec: Record<string, unknown> | undefined;
  #provenance: Record<string, unknown> | undefined;
  #workerIds: string[] | undefined;
  #errors: unknown[] | undefined;
  #metadata: Record<string, unknown> | undefined;

  constructor(id: string, run: NewRun, t: Template, nowMs: number) {
    this.result_id = id;
    this.queue_name = t.queueName;
    this.priority = t.priority;
    this.run_after = new Date(t.runAt !== null ? t.runAt.getTime() : nowMs + Math.round(t.delayMs));
    this.spec_hash = run.specHash;
    this.dedup_key = t.dedup ? run.specHash : null;
    this.task_path = t.taskPath;
    this.status = t.status;
    this.enqueued_at = new Date(nowMs);
    this.max_attempts = t.maxAttempts;
    this.timeout_seconds = t.timeoutSeconds;
    this.lock_key = t.lockKey;
    this.concurrency_key = t.concurrencyKey;
    this.concurrency_limit = t.concurrencyLimit;
    this.expires_at = t.expiresInMs === null ? null : new Date(nowMs + Math.round(t.expiresInMs));
    this.parent_id = t.parentId;
    this.workflow_id = t.workflowId;
    this.wait_count = t.waitCount;
    this.updated_at = new Date(nowMs);
    this.#specText = run.specJson;
    this.#provenanceText = t.provenanceJson;
  }

  get spec_json(): Record<string, unknown> {
    this.#spec ??= parseAsJsonb(this.#specText);
    return this.#spec;
  }
  set spec_json(value: Record<string, unknown>) {
    this.#spec = value;
  }
  get provenance_json(): Record<string, unknown> {
    this.#provenance ??= parseAsJsonb(this.#provenanceText);
    return this.#provenance;
  }
  set provenance_json(value: Record<string, unknown>) {
    this.#provenance = value;
  }
  get worker_ids(): string[] {
    this.#workerIds ??= [];
    return this.#workerIds;
  }
  set worker_ids(value: string[]) {
    this.#workerIds = value;
  }
  get errors_json(): unknown[] {
    this.#errors ??= [];
    return this.#errors;
  }
  set errors_json(value: unknown[]) {
    this.#errors = value;
  }
  get metadata_json(): Record<string, unknown> {
    this.#metadata ??= {};
    return this.#metadata;
  }
  set metadata_json(value: Record<string, unknown>) {
    this.#metadata = value;
  }

  /** Own enumerable copy, as a row read from the driver would be (for spreading and logging). */
  toJSON(): TaskRunRow {
    return {
      result_id: this.result_id,
      queue_name: this.queue_name,
      priority: this.priority,
      run_after: this.run_after,
      spec_json: this.spec_json,
      spec_hash: this.spec_hash,
      dedup_key: this.dedup_key,
      task_path: this.task_path,
      status: this.status,
      enqueued_at: this.enqueued_at,
      started_at: this.started_at,
      last_attempted_at: this.last_attempted_at,
      finished_at: this.finished_at,
      attempts: this.attempts,
      max_attempts: this.max_attempts,
      timeout_seconds: this.timeout_seconds,
      lock_key: this.lock_key,
      concurrency_key: this.concurrency_key,
      concurrency_limit: this.concurrency_limit,
      worker_ids: this.worker_ids,
      return_json: this.return_json,
      errors_json: this.errors_json,
      metadata_json: this.metadata_json,
      provenance_json: this.provenance_json,
      last_error: this.last_error,
      leased_until: this.leased_until,
      leased_by: this.leased_by,
      lease_token: this.lease_token,
      expires_at: this.expires_at,
      parent_id: this.parent_id,
      workflow_id: this.workflow_id,
      wait_count: this.wait_count,
      cancel_requested: this.cancel_requested,
      logs_uri: this.logs_uri,
      updated_at: this.updated_at,
    };
  }
}

function parseAsJsonb(text: string): Record<string, unknown> {
  const value = JSON.parse(text) as Record<string, unknown>;
  try {
    return jsonbOrdered(value) as Record<string, unknown>;
  } catch (error) {
    // Absurdly deep nesting: the values are right, only key order may differ from a stored row.
    if (error instanceof RangeError) return value;
    throw error;
  }
}

/**
 * Object keys in the order jsonb keeps them (shorter first, then bytewise), so a parsed spec reads
 * exactly like one the driver parsed from the stored jsonb.
 */
function jsonbOrdered(value: unknown): unknown {
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = jsonbOrdered(value[i]);
    return value;
  }
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record);
  const sorted = keys.slice().sort(compareJsonbKeys);
  const out: Record<string, unknown> = {};
  for (const key of sorted) {
    const item = jsonbOrdered(record[key]);
    if (key === "__proto__") {
      Object.defineProperty(out, key, { value: item, enumerable: true, writable: true, configurable: true });
    } else {
      out[key] = item;
    }
  }
  return out;
}

function compareJsonbKeys(a: string, b: string): number {
  if (a === b) return 0;
  const ab = Buffer.from(a, "utf8");
  const bb = Buffer.from(b, "utf8");
  return ab.length - bb.length || Buffer.compare(ab, bb);
}

/**
 * Inserts runs in one statement; conflicting (deduplicated) inputs come back with `row: null`.
 *
 * Fields shared by runs (task, queue, options, provenance) go once per distinct combination, and
 * each run adds only its hash and spec to one text parameter: binding and parsing 19 arrays of
 * 10,000 values cost more than the insert itself. Only the new ids come back.
 */
export async function insertRuns(
  db: Queryable,
  schema: string,
  runs: readonly NewRun[],
): Promise<InsertOutcome[]> {
  const n = runs.length;
  if (n === 0) return [];
  for (const run of runs) {
    if (run.dedupKey !== null && run.dedupKey !== run.specHash) {
      throw new Error("insertRuns: a run's dedupKey must be its specHash or null");
    }
  }
  if (n === 1) return [await insertOneRun(db, schema, runs[0]!)];
  const t = qualify(schema, "task_runs");
  const seq = qualify(schema, "task_runs_result_id_seq");

  const templates: Template[] = [];
  const runTemplate = new Array<Template>(n);
  const indexes = new Array<number>(n);
  const byKey = new Map<string, number>();
  let last = -1;
  let text = "";
  for (let i = 0; i < n; i++) {
    const run = runs[i]!;
    if (run.specJson.includes(SEP)) throw new Error("insertRuns: a spec is not JSON text");
    if (last < 0 || !sameTemplate(templates[last]!, run)) {
      const template = templateOf(run);
      const key = templateKey(template);
      let index = byKey.get(key);
      if (index === undefined) {
        index = templates.length;
        templates.push(template);
        byKey.set(key, index);
      }
      last = index;
    }
    indexes[i] = last + 1;
    runTemplate[i] = templates[last]!;
    text += i === 0 ? run.specHash + run.specJson : SEP + run.specHash + run.specJson;
  }
  const col = <K extends keyof Template>(key: K) => templates.map((tp) => tp[key]);
  const dedup = templates.some((tp) => tp.dedup);
  // Ids are drawn in the CTE so each input ordinal maps to its id without relying on RETURNING order.
  // With dedup keys the rows then go in in key order (ids still follow input order: they are drawn
  // before the sort): a statement that meets another transaction's uncommitted run of the same spec
  // waits for it, and two statements waiting on each other's keys in opposite orders would deadlock.
  const sql = `
WITH input AS MATERIALIZED (
  SELECT n.* FROM (
    SELECT nextval('${seq.replaceAll("'", "''")}') AS result_id, s.ord, s.line,
           coalesce(($3::int[])[s.ord], 1) AS tpl
      FROM unnest(string_to_array($1::text, $2::text)) WITH ORDINALITY AS s(line, ord)
  ) n${
    // Sorted in an outer query: in the same query, PostgreSQL would evaluate nextval() after the sort.
    dedup ? `\n   ORDER BY left(n.line, 64) COLLATE "C"` : ""
  }
), inserted AS (
  INSERT INTO ${t} (result_id, queue_name, priority, run_after, spec_json, spec_hash, dedup_key, task_path,
                    max_attempts, timeout_seconds, lock_key, concurrency_key, concurrency_limit, expires_at,
                    provenance_json, status, parent_id, workflow_id, wait_count)
  SELECT i.result_id, p.queue_name, p.priority,
         COALESCE(p.run_at, now() + p.delay_ms * interval '1 millisecond'),
         substr(i.line, 65)::jsonb, left(i.line, 64), CASE WHEN p.dedup THEN left(i.line, 64) END,
         p.task_path, p.max_attempts, p.timeout_seconds, p.lock_key, p.concurrency_key, p.concurrency_limit,
         now() + p.expires_in_ms * interval '1 millisecond',
         p.provenance_json, p.status, p.parent_id, p.workflow_id, p.wait_count
    FROM input i
    JOIN unnest($4::text[], $5::int[], $6::timestamptz[], $7::bigint[], $8::text[], $9::int[], $10::int[],
                $11::text[], $12::text[], $13::int[], $14::bigint[], $15::jsonb[], $16::text[], $17::bigint[],
                $18::uuid[], $19::int[], $20::boolean[])
         WITH ORDINALITY AS p(queue_name, priority, run_at, delay_ms, task_path, max_attempts, timeout_seconds,
                              lock_key, concurrency_key, concurrency_limit, expires_in_ms, provenance_json,
                              status, parent_id, workflow_id, wait_count, dedup, tpl)
      ON p.tpl = i.tpl
  ${
    // Without a dedup key no run can conflict: skip the speculative insertion ON CONFLICT costs.
    dedup
      ? "ON CONFLICT (dedup_key) WHERE dedup_key IS NOT NULL AND status IN ('READY','RUNNING','WAITING') DO NOTHING"
      : ""
  }
  RETURNING result_id
), offsets AS (
  SELECT min(result_id - ord) AS lo, max(result_id - ord) AS hi FROM input
)
SELECT round(extract(epoch FROM date_trunc('milliseconds', now())) * 1000)::text AS now_ms,
       -- Usually the ids are consecutive in input order: then the first one is enough.
       (SELECT lo + 1 FROM offsets WHERE lo = hi)::text AS first_id,
       CASE WHEN (SELECT lo = hi FROM offsets) THEN NULL
            ELSE (SELECT string_agg(result_id::text, ',' ORDER BY ord) FROM input) END AS ids,
       CASE WHEN (SELECT count(*) FROM inserted) = ${n} THEN NULL
            ELSE (SELECT coalesce(string_agg(result_id::text, ','), '') FROM inserted) END AS inserted`;
  const result = await db.query<{
    now_ms: string;
    first_id: string | null;
    ids: string | null;
    inserted: string | null;
  }>({
    text: sql,
    values: [
      text,
      SEP,
      templates.length === 1 ? null : `{${indexes.join(",")}}`,
      col("queueName"),
      col("priority"),
      templates.map((tp) => (tp.runAt ? tp.runAt.toISOString() : null)),
      templates.map((tp) => Math.round(tp.delayMs)),
      col("taskPath"),
      col("maxAttempts"),
      col("timeoutSeconds"),
      col("lockKey"),
      col("concurrencyKey"),
      col("concurrencyLimit"),
      templates.map((tp) => (tp.expiresInMs === null ? null : Math.round(tp.expiresInMs))),
      col("provenanceJson"),
      col("status"),
      col("parentId"),
      col("workflowId"),
      col("waitCount"),
      col("dedup"),
    ],
  });
  // Text, not a timestamptz: the application may have replaced the driver's date parser.
  const { now_ms: nowText, first_id: firstId, ids: idText, inserted } = result.rows[0]!;
  let idAt: (i: number) => string;
  if (firstId !== null) {
    const first = BigInt(firstId);
    idAt = (i) => (first + BigInt(i)).toString();
  } else {
    const ids = (idText ?? "").split(",");
    if (ids.length !== n) throw new Error(`insertRuns: expected ${n} ids, got ${ids.length}`);
    idAt = (i) => ids[i]!;
  }
  const nowMs = Number(nowText);
  const insertedIds = inserted === null ? null : new Set(inserted === "" ? [] : inserted.split(","));
  const out = new Array<InsertOutcome>(n);
  for (let i = 0; i < n; i++) {
    const id = idAt(i);
    out[i] =
      insertedIds === null || insertedIds.has(id)
        ? { row: new InsertedRow(id, runs[i]!, runTemplate[i]!, nowMs) }
        : { row: null };
  }
  return out;
}

/**
 * One run (enqueue()): a plain INSERT ... VALUES, as a named statement so each connection parses
 * and plans it once. It does less work per call than the bulk statement's CTEs and unnests, and a
 * single enqueue is on every run's enqueue-to-start path.
 */
async function insertOneRun(db: Queryable, schema: string, run: NewRun): Promise<InsertOutcome> {
  const dedup = run.dedupKey !== null;
  const statement = preparedStatement(
    db,
    dedup ? "insert_one_dedup" : "insert_one",
    schema,
    (s) => `
INSERT INTO ${qualify(s, "task_runs")} (queue_name, priority, run_after, spec_json, spec_hash, dedup_key, task_path,
                  max_attempts, timeout_seconds, lock_key, concurrency_key, concurrency_limit, expires_at,
                  provenance_json, status, parent_id, workflow_id, wait_count)
VALUES ($1, $2, COALESCE($3::timestamptz, now() + $4::bigint * interval '1 millisecond'), $5::jsonb, $6, $7, $8,
        $9, $10, $11, $12, $13, now() + $14::bigint * interval '1 millisecond', $15::jsonb, $16, $17, $18, $19)
${dedup ? "ON CONFLICT (dedup_key) WHERE dedup_key IS NOT NULL AND status IN ('READY','RUNNING','WAITING') DO NOTHING" : ""}
RETURNING result_id::text AS id, round(extract(epoch FROM date_trunc('milliseconds', now())) * 1000)::text AS now_ms`,
  );
  const result = await db.query<{ id: string; now_ms: string }>({
    ...statement,
    values: [
      run.queueName,
      run.priority,
      run.runAt ? run.runAt.toISOString() : null,
      Math.round(run.delayMs),
      run.specJson,
      run.specHash,
      run.dedupKey,
      run.taskPath,
      run.maxAttempts,
      run.timeoutSeconds,
      run.lockKey,
      run.concurrencyKey,
      run.concurrencyLimit,
      run.expiresInMs === null ? null : Math.round(run.expiresInMs),
      run.provenanceJson,
      run.status,
      run.parentId,
      run.workflowId,
      run.waitCount,
    ],
  });
  const row = result.rows[0];
  // No row: an active run with the same dedup key won the conflict.
  if (!row) return { row: null };
  return { row: new InsertedRow(row.id, run, templateOf(run), Number(row.now_ms)) };
}

/** Active runs (READY, RUNNING, WAITING) holding any of the given dedup keys. */
export async function selectActiveByDedupKeys(
  db: Queryable,
  schema: string,
  keys: readonly string[],
): Promise<TaskRunRow[]> {
  if (keys.length === 0) return [];
  const result = await db.query<TaskRunRow>(
    `SELECT * FROM ${qualify(schema, "task_runs")}
      WHERE dedup_key = ANY($1::char(64)[]) AND status IN ('READY','RUNNING','WAITING')`,
    [keys],
  );
  return result.rows;
}

export async function selectRunById(db: Queryable, schema: string, id: string): Promise<TaskRunRow | null> {
  const result = await db.query<TaskRunRow>(
    `SELECT * FROM ${qualify(schema, "task_runs")} WHERE result_id = $1`,
    [id],
  );
  return result.rows[0] ?? null;
}

/** A run in a listing: what `reproq runs list` shows, not the payload. */
export interface RunListRow {
  result_id: string;
  queue_name: string;
  task_path: string;
  status: TaskStatus;
  priority: number;
  attempts: number;
  max_attempts: number;
  enqueued_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  last_error: string | null;
}

export interface RunListFilter {
  statuses: readonly TaskStatus[] | null;
  queue: string | null;
  task: string | null;
  /** The column `since` and `until` apply to. */
  field: "enqueued_at" | "finished_at";
  since: Date | null;
  until: Date | null;
  /** Only runs with a smaller result_id (the keyset cursor); null starts at the newest. */
  before: string | null;
  limit: number;
  /** The walk reads at most this many ids below `before`. */
  budget: number;
}

export interface RunListPage {
  rows: RunListRow[];
  /** The lowest id the walk covered: the next page starts below it. */
  floor: string;
  /** Whether any run has an id below `floor`. */
  more: boolean;
}

/**
 * Runs newest first by result_id, filtered along a backward walk of the primary key that covers
 * at most `budget` ids: the id range bounds the work whatever the filters, with no other index
 * and never an OFFSET. A page may come back short (the range held too few matches); `floor` and
 * `more` say where the next one starts.
 */
export async function selectRunPage(
  db: Queryable,
  schema: string,
  filter: RunListFilter,
): Promise<RunListPage> {
  const t = qualify(schema, "task_runs");
  const time = filter.field === "finished_at" ? "finished_at" : "enqueued_at";
  // Each reads one end of a primary-key range: the oldest id, and the newest id below the cursor,
  // where the walk starts (so a gap of unused ids, after a rolled-back bulk insert or from a
  // cursor past the newest run, costs no empty pages).
  const ends = await db.query<{ low: string | null; high: string | null }>(
    `SELECT (SELECT min(result_id) FROM ${t})::text AS low,
            (SELECT max(result_id) FROM ${t} WHERE $1::bigint IS NULL OR result_id < $1::bigint)::text AS high`,
    [filter.before],
  );
  const { low, high } = ends.rows[0]!;
  const before = BigInt(high ?? "0") + 1n;
  const span = BigInt(filter.budget);
  const floor = before - span > 1n ? before - span : 1n;
  const page = await db.query<RunListRow>(
    // r.result_id: a bare result_id in ORDER BY would be the text output column.
    `SELECT r.result_id::text AS result_id, r.queue_name, r.task_path, r.status, r.priority, r.attempts,
            r.max_attempts, r.enqueued_at, r.started_at, r.finished_at, r.last_error
       FROM ${t} r
      WHERE r.result_id < $1::bigint AND r.result_id >= $2::bigint
        AND ($3::text[] IS NULL OR r.status = ANY($3::text[]))
        AND ($4::text IS NULL OR r.queue_name = $4) AND ($5::text IS NULL OR r.task_path = $5)
        AND ($6::timestamptz IS NULL OR r.${time} >= $6) AND ($7::timestamptz IS NULL OR r.${time} < $7)
      ORDER BY r.result_id DESC
      LIMIT $8`,
    [
      before.toString(),
      floor.toString(),
      filter.statuses,
      filter.queue,
      filter.task,
      filter.since?.toISOString() ?? null,
      filter.until?.toISOString() ?? null,
      filter.limit,
    ],
  );
  return { rows: page.rows, floor: floor.toString(), more: low !== null && BigInt(low) < floor };
}
