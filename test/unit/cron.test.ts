/** Schedules without a database: cron evaluation across daylight saving and the payload envelope. */
import { describe, expect, it } from "vitest";
import { parseCron } from "../../src/scheduler/cron.js";
import { parsePayloadEnvelope } from "../../src/scheduler/schedules.js";

describe("cron and daylight saving (pinned croner rules)", () => {
  const iso = (d: Date | null) => d?.toISOString();

  it("runs a fixed-time job in a spring-forward gap once, at the first valid time after the gap", () => {
    const cron = parseCron("30 2 * * *", "America/New_York");
    // 2026-03-08: clocks jump 02:00 EST -> 03:00 EDT, so 02:30 does not exist; it runs at 03:00 EDT.
    const first = cron.next(new Date("2026-03-08T05:00:00Z"));
    expect(iso(first)).toBe("2026-03-08T07:00:00.000Z");
    expect(iso(cron.next(first!))).toBe("2026-03-09T06:30:00.000Z");
  });

  it("runs a fixed-time job once when its time repeats, and interval jobs on both occurrences", () => {
    const fixed = parseCron("30 1 * * *", "America/New_York");
    // 2026-11-01: 01:00-02:00 happens twice (EDT, then EST); 01:30 runs once, at the first (EDT).
    const once = fixed.next(new Date("2026-11-01T04:00:00Z"));
    expect(iso(once)).toBe("2026-11-01T05:30:00.000Z");
    expect(iso(fixed.next(once!))).toBe("2026-11-02T06:30:00.000Z");

    const hourly = parseCron("0 * * * *", "America/New_York");
    const runs: string[] = [];
    let at = new Date("2026-11-01T04:30:00Z");
    for (let i = 0; i < 3; i++) {
      at = hourly.next(at)!;
      runs.push(at.toISOString());
    }
    // 01:00 EDT, 01:00 EST, 02:00 EST: the repeated hour runs twice.
    expect(runs).toEqual([
      "2026-11-01T05:00:00.000Z",
      "2026-11-01T06:00:00.000Z",
      "2026-11-01T07:00:00.000Z",
    ]);
    // Spring forward: the hourly job skips the missing 02:00.
    expect(iso(hourly.next(new Date("2026-03-08T06:00:00Z")))).toBe("2026-03-08T07:00:00.000Z");
  });

  it("marks 6-field expressions as having seconds", () => {
    expect(parseCron("*/10 * * * * *").hasSeconds).toBe(true);
    expect(parseCron("*/10 * * * *").hasSeconds).toBe(false);
  });
});

describe("payload envelope", () => {
  it("accepts a payload envelope with kwargs only when kwargs is empty", () => {
    expect(parsePayloadEnvelope({ args: [1], kwargs: {} }, "p")).toEqual([1]);
    expect(() => parsePayloadEnvelope({ args: [1], kwargs: { a: 1 } }, "p")).toThrow(/kwargs" must be empty/);
    expect(() => parsePayloadEnvelope({ args: 1 }, "p")).toThrow(/must be an array/);
  });
});
