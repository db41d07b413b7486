/** Misspelled option keys (plain JavaScript has no type check) are refused by name, with a suggestion. */
import { describe, expect, it } from "vitest";
import { Backend } from "../../src/backend.js";
import { closestName } from "../../src/config/suggest.js";
import { chain, configure, InvalidInputError, task } from "../../src/index.js";
import { checkScheduleInput } from "../../src/scheduler/schedules.js";

const untyped = task as unknown as (
  name: string,
  options: object,
  handler: () => unknown,
) => {
  using(options: object): { using(options: object): unknown };
};

describe("option typos", () => {
  it("task() refuses an unknown option key and suggests the right one", () => {
    expect(() => untyped("typos.attempts", { maxAtempts: 5 }, () => 1)).toThrow(InvalidInputError);
    expect(() => untyped("typos.attempts", { maxAtempts: 5 }, () => 1)).toThrow(
      'task "typos.attempts": unknown option "maxAtempts"; did you mean "maxAttempts"?',
    );
  });

  it("checks retry and concurrency keys too", () => {
    expect(() => untyped("typos.retry", { retry: { bse: "1s" } }, () => 1)).toThrow(
      'unknown retry option "bse"; did you mean "base"?',
    );
    expect(() => untyped("typos.conc", { concurrency: { key: () => "k", limt: 2 } }, () => 1)).toThrow(
      'unknown concurrency option "limt"; did you mean "limit"?',
    );
  });

  it("lists the known keys when nothing is close", () => {
    expect(() => untyped("typos.far", { zzzzzzzz: 1 }, () => 1)).toThrow(
      /unknown option "zzzzzzzz"; known options: queue, priority, maxAttempts/,
    );
  });

  it(".using() refuses an unknown enqueue option where it is written", () => {
    const t = untyped("typos.using", {}, () => 1);
    expect(() => t.using({ prioriti: 5 })).toThrow(
      'task "typos.using" .using(): unknown enqueue option "prioriti"; did you mean "priority"?',
    );
    expect(() => t.using({ priority: 5 }).using({ runafter: "1s" })).toThrow(
      'unknown enqueue option "runafter"; did you mean "runAfter"?',
    );
    expect(() => t.using({ priority: 5, runAfter: "1s" })).not.toThrow();
  });

  it("closestName matches case and separators, aliases, and small edits", () => {
    const names = ["maxAttempts", "priority", "queue"];
    expect(closestName("max_attempts", names)).toBe("maxAttempts");
    expect(closestName("prio", names, (n) => (n === "priority" ? ["prio"] : []))).toBe("priority");
    expect(closestName("queu", names)).toBe("queue");
    expect(closestName("somethingelse", names)).toBeUndefined();
  });
});

describe("queue name errors", () => {
  it("a long queue name is told the length limit, not about spaces", () => {
    expect(() => untyped("queues.long", { queue: "q".repeat(500) }, () => 1)).toThrow(
      /^task "queues\.long": queue name is 500 characters, over the limit of 200; use a shorter name/,
    );
    expect(() => untyped("queues.space", { queue: "a b" }, () => 1)).toThrow(
      'queue must be a non-empty name without spaces, got "a b"',
    );
  });
});

describe("typos in the other option objects", () => {
  const t = task("typos.other", async (n: number) => n);

  it("configure() suggests the setting", () => {
    expect(() => configure({ maxAtempts: 5 } as never)).toThrow(
      'unknown setting "maxAtempts" in configure(); did you mean "maxAttempts"?',
    );
  });

  it("bulkEnqueue's and a workflow's own options", async () => {
    const backend = new Backend({ alias: "default", overrides: {} });
    await expect(backend.bulkEnqueue([[t, [1]]], { clinet: null } as never)).rejects.toThrow(
      'bulkEnqueue: unknown option "clinet"; did you mean "client"?',
    );
    await expect(chain([t, [1]]).enqueue({ clinet: null } as never)).rejects.toThrow(
      'chain .enqueue(): unknown option "clinet"; did you mean "client"?',
    );
  });

  it("a workflow step's options, pipe included", async () => {
    await expect(chain([t, [1]], [t, [], { pip: true } as never]).enqueue()).rejects.toThrow(
      'chain step 1: unknown step option "pip"; did you mean "pipe"?',
    );
  });

  it("a schedule's options", () => {
    expect(() =>
      checkScheduleInput({ name: "s", cron: "* * * * *", task: t, timeZone: "UTC" } as never),
    ).toThrow('schedule "s": unknown schedule option "timeZone"; did you mean "timezone"?');
  });
});
