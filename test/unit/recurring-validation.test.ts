/** recurring() checks its schedule where it is written, not only at the next sync. */
import { afterEach, describe, expect, it } from "vitest";
import { task } from "../../src/index.js";
import { clearRecurring, recurring, recurringSchedules } from "../../src/scheduler/recurring.js";

const nightly = task("recurring.check.nightly", async (n: number) => n);
const loose = recurring as unknown as (definition: unknown, options: object) => unknown;

afterEach(() => clearRecurring());

describe("recurring() validation at the call", () => {
  it("refuses a bad cron expression", () => {
    expect(() => recurring(nightly, { schedule: "61 * * * *", key: "rc.cron", args: [1] })).toThrow(
      /schedule "rc\.cron": cron: invalid cron expression "61 \* \* \* \*"/,
    );
    expect(recurringSchedules()).toEqual([]);
  });

  it("refuses an unknown time zone", () => {
    expect(() =>
      recurring(nightly, { schedule: "0 1 * * *", key: "rc.tz", args: [1], timezone: "Mars/Olympus" }),
    ).toThrow('timezone "Mars/Olympus" is not a known IANA timezone');
  });

  it("refuses args that are not an array or cannot be encoded", () => {
    expect(() => loose(nightly, { schedule: "0 1 * * *", key: "rc.args", args: 5 })).toThrow(
      'schedule "rc.args": args must be an array',
    );
    expect(() => loose(nightly, { schedule: "0 1 * * *", key: "rc.fn", args: [() => 1] })).toThrow(
      /args\[0\]/,
    );
  });

  it("refuses a bad queue, priority, catchUp and a misspelled option", () => {
    expect(() => recurring(nightly, { schedule: "0 1 * * *", key: "rc.q", queue: "a b" })).toThrow(
      "queue must be",
    );
    expect(() => recurring(nightly, { schedule: "0 1 * * *", key: "rc.p", priority: 500 })).toThrow(
      "priority must be an integer from -100 to 100",
    );
    expect(() => loose(nightly, { schedule: "0 1 * * *", key: "rc.c", catchUp: "most" })).toThrow(
      'catchUp must be "one", "all" or "none"',
    );
    expect(() => loose(nightly, { schedule: "0 1 * * *", key: "rc.tz2", timeZone: "UTC" })).toThrow(
      'recurring: unknown recurring option "timeZone"; did you mean "timezone"?',
    );
  });

  it("accepts a valid schedule", () => {
    recurring(nightly, { schedule: "30 2 * * *", key: "rc.ok", args: [3], timezone: "Europe/Berlin" });
    expect(recurringSchedules()).toEqual([{ key: "rc.ok", task: nightly.name, schedule: "30 2 * * *" }]);
  });
});
