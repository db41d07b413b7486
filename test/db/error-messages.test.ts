/** Errors that name what was wrong: the bulk item, the misspelled option (issue 16 items 6 and 8). */
import { describe, expect, it } from "vitest";
import { getBackend, InvalidInputError, PayloadError, task } from "../../src/index.js";
import { countRuns } from "../support/db.js";
import { useReproq } from "../support/reproq.js";
import { startWorker } from "../support/worker.js";

const ctx = useReproq({ maxPayloadBytes: 200 });

const echo = task("errors.echo", async (value: unknown) => value);
const keyed = task(
  "errors.keyed",
  {
    concurrency: {
      key: (id: number) => {
        if (id < 0) throw new RangeError("negative id");
        return `id:${id}`;
      },
      limit: 1,
    },
  },
  async (id: number) => id,
);

const count = (taskPath: string) => countRuns(ctx.db.pool, taskPath);

describe("bulkEnqueue errors name the item", () => {
  it("an argument that cannot be encoded", async () => {
    const error = await getBackend()
      .bulkEnqueue([
        [echo, [1]],
        [echo, [2]],
        [echo, [3]],
        [echo, [{ save: () => 1 }]],
      ])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PayloadError);
    expect((error as PayloadError).message).toMatch(/^item 3 task "errors\.echo": args\[0\]\.save: /);
    expect((error as PayloadError).path).toBe("args[0].save");
    expect((error as PayloadError).stack).toContain('item 3 task "errors.echo": args[0].save');
    expect(await count("errors.echo")).toBe(0);
  });

  it("arguments over the payload limit", async () => {
    await expect(
      getBackend().bulkEnqueue([
        [echo, ["small"]],
        [echo, ["x".repeat(500)]],
      ]),
    ).rejects.toThrow(
      /^item 1 task "errors\.echo": args: encoded payload is \d+ bytes, over the limit of 200/,
    );
  });

  it("a key function that throws", async () => {
    const error = await getBackend()
      .bulkEnqueue([
        [keyed, [1]],
        [keyed, [-1]],
      ])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as Error).message).toBe('item 1 task "errors.keyed": negative id');
    expect((error as Error).cause).toBeInstanceOf(RangeError);
  });

  it("a misspelled option, with a suggestion", async () => {
    await expect(
      getBackend().bulkEnqueue([
        [echo, [1]],
        [echo, [2], { prioriti: 5 } as never],
      ]),
    ).rejects.toThrow(
      'item 1 task "errors.echo": unknown enqueue option "prioriti"; did you mean "priority"?',
    );
    expect(await count("errors.echo")).toBe(0);
  });

  it("a single enqueue names the task", async () => {
    await expect(echo.enqueue({ save: () => 1 })).rejects.toThrow(/^task "errors\.echo": args\[0\]\.save: /);
  });
});

const big = task("errors.big", async (size: number) => "x".repeat(size));

describe("return values obey maxPayloadBytes", () => {
  it("a return value over the limit fails the attempt with the sizes, recorded on the run", async () => {
    const tooBig = await big.using({ maxAttempts: 3 }).enqueue(1000);
    const small = await big.enqueue(10);
    await startWorker({ queues: ["default"] });
    const failed = await tooBig.wait({ timeout: 20_000 });
    expect([failed.status, failed.attempts]).toEqual(["FAILED", 1]);
    expect(failed.errors.map((e) => [e.kind, e.message])).toEqual([
      [
        "bad_return",
        "return value is 1002 bytes, over the limit of 200 (maxPayloadBytes); store large results elsewhere and return a reference such as an id, or raise maxPayloadBytes",
      ],
    ]);
    expect((await small.wait({ timeout: 20_000 })).returnValue).toBe("x".repeat(10));
  });
});
