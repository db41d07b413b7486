import { describe, expect, it } from "vitest";
import { Backend } from "../../src/backend.js";
import { configure, getBackend, task } from "../../src/index.js";
import { useReproq } from "../support/reproq.js";

const ctx = useReproq();

const sendEmail = task("emails.send", async (to: string, n: number) => `${to}:${n}`);

async function finish(id: string, status = "SUCCESSFUL"): Promise<void> {
  await ctx.db.pool.query(
    `UPDATE reproq.task_runs SET status = $2, finished_at = now() WHERE result_id = $1`,
    [id, status],
  );
}

describe("dedup of active runs", () => {
  it("returns the existing run for an equal spec while it is active", async () => {
    const a = await sendEmail.enqueue("a@x", 1);
    const b = await sendEmail.enqueue("a@x", 1);
    expect(b.id).toBe(a.id);
    expect(b.deduplicated).toBe(true);
    const other = await sendEmail.enqueue("a@x", 2);
    expect(other.id).not.toBe(a.id);
    for (const status of ["RUNNING", "WAITING"]) {
      await ctx.db.pool.query(
        `UPDATE reproq.task_runs SET status = $2, leased_by = 'w', leased_until = now(), lease_token = gen_random_uuid() WHERE result_id = $1`,
        [a.id, status],
      );
      expect((await sendEmail.enqueue("a@x", 1)).id).toBe(a.id);
    }
  });

  it("makes a new run once the earlier one finished", async () => {
    const a = await sendEmail.enqueue("b@x", 1);
    await finish(a.id);
    const b = await sendEmail.enqueue("b@x", 1);
    expect(b.id).not.toBe(a.id);
    expect(b.deduplicated).toBe(false);
    expect(b.specHash).toBe(a.specHash);
  });

  it("is race-free: 8 concurrent enqueues from separate connections give one row", async () => {
    for (let round = 0; round < 5; round++) {
      const backends = Array.from(
        { length: 8 },
        () => new Backend({ alias: "default", overrides: { databaseUrl: ctx.db.url, poolSize: 1 } }),
      );
      try {
        const results = await Promise.all(backends.map((b) => b.enqueue(sendEmail, ["race@x", round])));
        expect(new Set(results.map((r) => r.id)).size).toBe(1);
        expect(results.filter((r) => !r.deduplicated)).toHaveLength(1);
      } finally {
        await Promise.all(backends.map((b) => b.close()));
      }
      const { rows } = await ctx.db.pool.query(
        `SELECT count(*)::int AS n FROM reproq.task_runs WHERE task_path = 'emails.send' AND spec_json->'args' = $1::jsonb`,
        [JSON.stringify(["race@x", round])],
      );
      expect(rows[0].n).toBe(1);
    }
  });

  it("treats equal relative delays as the same run, and different absolute times as different runs", async () => {
    const a = await sendEmail.using({ runAfter: "10m" }).enqueue("c@x", 1);
    const b = await sendEmail.using({ runAfter: "10m" }).enqueue("c@x", 1);
    expect(b.id).toBe(a.id);
    const t1 = await sendEmail.using({ runAfter: new Date("2031-01-01T00:00:00Z") }).enqueue("c@x", 1);
    const t2 = await sendEmail.using({ runAfter: new Date("2031-01-02T00:00:00Z") }).enqueue("c@x", 1);
    expect(new Set([a.id, t1.id, t2.id]).size).toBe(3);
  });

  it("allows duplicates without errors when dedupActive is false", async () => {
    configure({ databaseUrl: ctx.db.url, dedupActive: false });
    try {
      const a = await sendEmail.enqueue("d@x", 1);
      const b = await sendEmail.enqueue("d@x", 1);
      expect(b.id).not.toBe(a.id);
      const bulk = await getBackend().bulkEnqueue([
        [sendEmail, ["d@x", 1]],
        [sendEmail, ["d@x", 1]],
      ]);
      expect(new Set([a.id, b.id, ...bulk.map((r) => r.id)]).size).toBe(4);
      expect(bulk.every((r) => r.specHash === a.specHash)).toBe(true);
    } finally {
      configure({ databaseUrl: ctx.db.url });
    }
  });
});
