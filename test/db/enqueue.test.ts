import { describe, expect, it } from "vitest";
import { buildSpec, specHash } from "../../src/codec/spec.js";
import {
  getBackend,
  getResult,
  InvalidInputError,
  PayloadError,
  TaskResultNotFoundError,
  task,
} from "../../src/index.js";
import { useReproq } from "../support/reproq.js";

const ctx = useReproq({ codeRef: "test-sha" });

const add = task("math.add", { queue: "default", priority: 0 }, async (a: number, b: number) => a + b);
const greet = task(
  "greet.user",
  async (user: { name: string; at: Date; tags: Set<string> }) => `hi ${user.name}`,
);
const noArgs = task("util.noop", async () => "ok");
const perUser = task(
  "users.sync",
  { concurrency: { key: (userId: number) => `user:${userId}`, limit: 2 }, maxAttempts: 5, timeout: "90s" },
  async (userId: number) => userId,
);

async function count(where = "true"): Promise<number> {
  const r = await ctx.db.pool.query(`SELECT count(*)::int AS n FROM reproq.task_runs WHERE ${where}`);
  return r.rows[0].n;
}

describe("enqueue", () => {
  it("stores a READY run and reads it back with every field", async () => {
    const r = await add.enqueue(1, 2);
    expect(r.id).toMatch(/^\d+$/);
    expect(r.status).toBe("READY");
    expect(r.taskName).toBe("math.add");
    expect(r.queue).toBe("default");
    expect(r.priority).toBe(0);
    expect(r.args).toEqual([1, 2]);
    expect(r.attempts).toBe(0);
    expect(r.maxAttempts).toBe(3);
    expect(r.timeoutSeconds).toBe(900);
    expect(r.errors).toEqual([]);
    expect(r.metadata).toEqual({});
    expect(r.workerIds).toEqual([]);
    expect(r.deduplicated).toBe(false);
    expect(r.enqueuedAt).toBeInstanceOf(Date);
    expect(r.startedAt).toBeNull();
    expect(r.specHash).toBe(
      specHash(buildSpec({ taskPath: "math.add", args: [1, 2], queueName: "default", priority: 0 })).hash,
    );
    const same = await getResult(r.id);
    expect(same.id).toBe(r.id);
    expect(same.args).toEqual([1, 2]);
    const viaTask = await add.getResult(Number(r.id));
    expect(viaTask.taskName).toBe("math.add");
  });

  it("round-trips rich argument types exactly", async () => {
    const at = new Date("2026-01-02T03:04:05.678Z");
    const r = await greet.enqueue({ name: "Ada", at, tags: new Set(["a", "b"]) });
    const back = await getResult(r.id);
    const [user] = back.args as [{ name: string; at: Date; tags: Set<string> }];
    expect(user.at).toBeInstanceOf(Date);
    expect(user.at.getTime()).toBe(at.getTime());
    expect(user.tags).toEqual(new Set(["a", "b"]));
  });

  it("applies task options and per-enqueue options", async () => {
    const r = await perUser.enqueue(7);
    expect(r.concurrencyKey).toBe("user:7");
    expect(r.concurrencyLimit).toBe(2);
    expect(r.maxAttempts).toBe(5);
    expect(r.timeoutSeconds).toBe(90);

    const o = await add
      .using({ lockKey: "user:1", priority: 50, queue: "math", concurrencyKey: "k", concurrencyLimit: 3 })
      .enqueue(5, 6);
    expect(o.lockKey).toBe("user:1");
    expect(o.priority).toBe(50);
    expect(o.queue).toBe("math");
    expect(o.concurrencyKey).toBe("k");
    expect(o.concurrencyLimit).toBe(3);
    const fnKey = await add
      .using({ concurrencyKey: (a, b) => `sum:${a + b}`, concurrencyLimit: 1 })
      .enqueue(2, 2);
    expect(fnKey.concurrencyKey).toBe("sum:4");
    const blank = await add.using({ concurrencyKey: "   ", concurrencyLimit: 4 }).enqueue(9, 9);
    expect(blank.concurrencyKey).toBeNull();
    expect(blank.concurrencyLimit).toBe(0);
    // using() returns a copy: the definition itself is unchanged
    const plain = await add.enqueue(5, 7);
    expect(plain.priority).toBe(0);
  });

  it("computes run_after and expires_at from the database clock", async () => {
    const { rows } = await ctx.db.pool.query("SELECT now() AS now");
    const dbNow: Date = rows[0].now;
    const r = await add.using({ runAfter: "10m", expiresIn: "1h" }).enqueue(100, 1);
    const delay = r.runAfter.getTime() - dbNow.getTime();
    expect(delay).toBeGreaterThan(9 * 60_000);
    expect(delay).toBeLessThan(11 * 60_000);
    expect(r.expiresAt!.getTime() - dbNow.getTime()).toBeGreaterThan(59 * 60_000);
    const at = new Date("2030-01-01T00:00:00.000Z");
    const abs = await add.using({ runAfter: at }).enqueue(100, 2);
    expect(abs.runAfter.toISOString()).toBe(at.toISOString());
    expect(abs.spec.run_after).toBe("2030-01-01T00:00:00.000Z");
  });

  it("records provenance beside the spec without hashing it", async () => {
    const r = await noArgs.enqueue();
    expect(r.provenance).toMatchObject({ code_ref: "test-sha", lockfile_hash: null });
    expect(typeof r.provenance.reproq_version).toBe("string");
    expect(JSON.stringify(r.spec)).not.toContain("test-sha");
  });

  it("rejects bad input with a clear error and writes nothing", async () => {
    const before = await count();
    await expect(add.using({ priority: 101 }).enqueue(1, 1)).rejects.toThrow(
      /priority must be an integer from -100 to 100/,
    );
    await expect(add.using({ runAfter: "soon" }).enqueue(1, 1)).rejects.toThrow(InvalidInputError);
    await expect(add.using({ queue: "has space" }).enqueue(1, 1)).rejects.toThrow(/queue must be/);
    const fn = () => 1;
    const bad = task("bad.payload", async (_x: number, _u: { user: { save: () => number } }) => 0);
    const err = await bad.enqueue(1, { user: { save: fn } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PayloadError);
    expect((err as PayloadError).path).toBe("args[1].user.save");
    const big = task("bad.big", async (_s: string) => 0);
    await expect(big.enqueue("x".repeat(1_100_000))).rejects.toThrow(/over the limit of 1048576 bytes/);
    expect(await count()).toBe(before);
  });

  it("rejects invalid task definitions", () => {
    expect(() => task("has space", async () => 0)).toThrow(/task name/);
    expect(() => task("x.prio", { priority: 500 }, async () => 0)).toThrow(/priority/);
    expect(() => task("x.timeout", { timeout: "forever" }, async () => 0)).toThrow(/timeout/);
    expect(() => task("math.add", async (a: number) => a)).toThrow(/defined twice/);
  });

  it("gives typed errors for missing and malformed ids", async () => {
    await expect(getResult("999999999")).rejects.toBeInstanceOf(TaskResultNotFoundError);
    await expect(getResult("abc")).rejects.toBeInstanceOf(InvalidInputError);
    await expect(getResult(-1)).rejects.toBeInstanceOf(InvalidInputError);
  });

  it("keeps argument types in the compiler", () => {
    // These lines are checked by `npm run typecheck`; they must fail to compile.
    const compileOnly = () => {
      // @ts-expect-error a string is not a number
      void add.enqueue("x");
      // @ts-expect-error too few arguments
      void add.enqueue(1);
      // @ts-expect-error the key function receives the task's argument types
      void add.using({ concurrencyKey: (a: string) => a });
      // @ts-expect-error a definition's key function is checked against the handler's parameters
      task("typing.key", { concurrency: { key: (id: string) => id, limit: 1 } }, async (id: number) => id);
      void getBackend().bulkEnqueue([
        [add, [1, 2]],
        // @ts-expect-error wrong argument type inside a bulk item
        [add, ["1", 2]],
      ]);
    };
    expect(typeof compileOnly).toBe("function");
  });
});

describe("returnValue", () => {
  it("throws unless SUCCESSFUL, then decodes the stored value", async () => {
    const r = await add.enqueue(40, 2);
    expect(() => r.returnValue).toThrow(/only available when SUCCESSFUL/);
    await ctx.db.pool.query(
      `UPDATE reproq.task_runs SET status = 'SUCCESSFUL', finished_at = now(), return_json = '{"$reproq":"BigInt","v":"42"}' WHERE result_id = $1`,
      [r.id],
    );
    await r.refresh();
    expect(r.status).toBe("SUCCESSFUL");
    expect(r.returnValue).toBe(42n);
  });
});
