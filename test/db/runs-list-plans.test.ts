/**
 * `reproq runs list` must stay bounded on a big table: every statement listRuns() sends, for
 * every filter combination, is planned without a sequential scan of task_runs. The statements are
 * recorded as listRuns() runs them against the real database, then EXPLAINed with the same
 * parameters, after ANALYZE of a table several page budgets long.
 */
import type pg from "pg";
import { describe, expect, it } from "vitest";
import type { Queryable } from "../../src/db/pool.js";
import { listRuns, type RunListQuery } from "../../src/ops/runs.js";
import { useTestDatabase } from "../support/db.js";

const ctx = useTestDatabase();
const ROWS = 60_000;

interface PlanNode {
  "Node Type": string;
  "Relation Name"?: string;
  Plans?: PlanNode[];
}

function seqScans(node: PlanNode): string[] {
  const own = node["Node Type"] === "Seq Scan" ? [node["Relation Name"] ?? "?"] : [];
  return [...own, ...(node.Plans ?? []).flatMap(seqScans)];
}

/** Runs each statement as listRuns() sends it, and keeps it for EXPLAIN. */
function recorder(db: pg.Pool): { db: Queryable; statements: Array<{ text: string; values: unknown[] }> } {
  const statements: Array<{ text: string; values: unknown[] }> = [];
  const query = ((text: string, values?: unknown[]) => {
    statements.push({ text, values: values ?? [] });
    return db.query(text, values);
  }) as Queryable["query"];
  return { db: { query }, statements };
}

async function fill(pool: pg.Pool): Promise<void> {
  await pool.query(
    `INSERT INTO reproq.task_runs (spec_json, spec_hash, task_path, queue_name, status, finished_at, enqueued_at)
     SELECT '{}', repeat('a', 64), 'plans.t' || (g % 20), 'q' || (g % 10),
            (ARRAY['READY','WAITING','SUCCESSFUL','FAILED','CANCELLED','EXPIRED'])[1 + g % 6],
            CASE WHEN g % 6 >= 2 THEN now() - (${ROWS} - g) * interval '1 second' END,
            now() - (${ROWS} - g) * interval '1 second'
       FROM generate_series(1, ${ROWS}) g`,
  );
  await pool.query("ANALYZE reproq.task_runs");
}

const QUERIES: Array<[string, RunListQuery]> = [
  ["no filter", {}],
  ["one final status", { statuses: ["FAILED"] }],
  ["READY in a queue", { statuses: ["READY"], queue: "q3" }],
  ["several statuses", { statuses: ["READY", "SUCCESSFUL", "EXPIRED"] }],
  ["a queue", { queue: "q1" }],
  ["a task", { task: "plans.t7" }],
  ["a task that has no runs", { task: "plans.none" }],
  ["queue and task", { queue: "q2", task: "plans.t2", limit: 1000 }],
  ["since on enqueued_at", { since: "1h" }],
  ["a range on finished_at", { statuses: ["FAILED"], field: "finished_at", since: "10h", until: "1h" }],
  ["a page after a cursor", { after: "30000", task: "plans.t3" }],
];

describe("runs list plans", () => {
  it("never scans task_runs sequentially, for any filter", async () => {
    await fill(ctx.db.pool);
    for (const [what, query] of QUERIES) {
      const { db, statements } = recorder(ctx.db.pool);
      const page = await listRuns(db, "reproq", query);
      expect(page.runs.length, what).toBeLessThanOrEqual(query.limit ?? 50);
      expect(statements.length, what).toBeGreaterThan(0);
      for (const statement of statements) {
        const { rows } = await ctx.db.pool.query<{ "QUERY PLAN": Array<{ Plan: PlanNode }> }>(
          `EXPLAIN (FORMAT JSON) ${statement.text}`,
          statement.values,
        );
        const plan = rows[0]!["QUERY PLAN"][0]!.Plan;
        expect(seqScans(plan), `${what}: ${statement.text}`).toEqual([]);
      }
    }
  });

  it("pages through every match with no run twice or missed, whatever the walk bound", async () => {
    const { rows } = await ctx.db.pool.query<{ id: string }>(
      `SELECT result_id::text AS id FROM reproq.task_runs
        WHERE task_path = 'plans.t5' AND status = 'FAILED' AND result_id > $1 ORDER BY result_id DESC`,
      [ROWS - 3000],
    );
    const seen: string[] = [];
    let after: string | undefined = String(ROWS + 1);
    let pages = 0;
    const floor = ROWS - 3000;
    while (after !== undefined && Number(after) > floor + 1) {
      const page = await listRuns(ctx.db.pool, "reproq", {
        task: "plans.t5",
        statuses: ["FAILED"],
        limit: 7,
        budget: 500,
        after,
      });
      seen.push(...page.runs.map((r) => r.id).filter((id) => Number(id) > floor));
      after = page.nextCursor ?? undefined;
      pages++;
    }
    expect(pages).toBeGreaterThan(3);
    expect(seen).toEqual(rows.map((r) => r.id));
  });

  it("starts each walk at the newest run below the cursor, so a gap of unused ids costs no empty pages", async () => {
    const { rows: top } = await ctx.db.pool.query<{ id: string }>(
      "SELECT max(result_id)::text AS id FROM reproq.task_runs",
    );
    const older = await listRuns(ctx.db.pool, "reproq", { limit: 1 });
    // A bulk insert that rolled back used up 5,000 ids.
    const client = await ctx.db.pool.connect();
    try {
      await client.query("BEGIN");
      await client.query(
        `INSERT INTO reproq.task_runs (spec_json, spec_hash, task_path)
         SELECT '{}', repeat('b', 64), 'plans.gap' FROM generate_series(1, 5000)`,
      );
      await client.query("ROLLBACK");
    } finally {
      client.release();
    }
    await ctx.db.pool.query(
      "INSERT INTO reproq.task_runs (spec_json, spec_hash, task_path) VALUES ('{}', repeat('c', 64), 'plans.after-gap')",
    );
    // The walk from the newest run meets the gap and stops at its bound; the next page starts at
    // the newest run below the gap, not 500 ids further down.
    const page = await listRuns(ctx.db.pool, "reproq", { limit: 2, budget: 500 });
    expect(page.runs.map((r) => r.taskName)).toEqual(["plans.after-gap"]);
    expect(page.partial).toBe(true);
    const next = await listRuns(ctx.db.pool, "reproq", { limit: 1, budget: 500, after: page.nextCursor! });
    expect(next.runs.map((r) => [r.id, r.taskName])).toEqual([[top[0]!.id, older.runs[0]!.taskName]]);
    // A cursor far past the newest run starts at the newest run too.
    const far = await listRuns(ctx.db.pool, "reproq", { limit: 1, budget: 500, after: "9000000000" });
    expect(far.runs.map((r) => r.taskName)).toEqual(["plans.after-gap"]);
  });
});
