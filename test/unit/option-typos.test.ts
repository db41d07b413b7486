/** Misspelled option keys (plain JavaScript has no type check) are refused by name, with a suggestion. */
import { describe, expect, it } from "vitest";
import { closestName } from "../../src/config/suggest.js";
import { InvalidInputError, task } from "../../src/index.js";

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
