import { describe, expect, it } from "vitest";
import { errorWithin, InvalidInputError } from "../../src/errors.js";
import { resultIdIn } from "../../src/ops/run-id.js";
import { task } from "../../src/task.js";

describe("input that used to slip through", () => {
  it("a run id beyond bigint is refused by name, not sent to the database", () => {
    expect(resultIdIn("9223372036854775807")).toBe("9223372036854775807");
    expect(() => resultIdIn("9223372036854775808")).toThrow(
      'run id "9223372036854775808" is out of range; run ids are at most 9223372036854775807',
    );
  });

  it("task(name, handler, options) says the options go first instead of ignoring them", () => {
    const call = task as unknown as (name: string, a: unknown, b: unknown) => unknown;
    expect(() => call("fix.order", async () => 1, { queue: "emails" })).toThrow(
      'task "fix.order": the options go before the handler: task(name, options, handler)',
    );
  });

  it("an error's prefix keeps its stack readable when the message holds $ patterns", () => {
    const error = new InvalidInputError("args[0]: costs $& or $' dollars");
    const within = errorWithin(error, "item 3");
    expect(within.message).toBe("item 3: args[0]: costs $& or $' dollars");
    expect(within.stack?.split("\n")[0]).toBe("InvalidInputError: item 3: args[0]: costs $& or $' dollars");
  });
});
