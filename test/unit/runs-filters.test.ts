/** The pure parts of `reproq runs list`: time bounds, cursors and statuses. */
import { describe, expect, it } from "vitest";
import { InvalidInputError } from "../../src/errors.js";
import { parseCursor, parseRunTimeField, parseTimeBound } from "../../src/ops/runs.js";
import { parseStatuses } from "../../src/status.js";

describe("runs list filters", () => {
  const now = new Date("2026-11-24T12:00:00.000Z");

  it("reads a time bound as an ISO time or a duration ago", () => {
    expect(parseTimeBound("2026-11-24T03:00:00Z", "since", now).toISOString()).toBe(
      "2026-11-24T03:00:00.000Z",
    );
    expect(parseTimeBound("2026-11-24", "since", now).toISOString()).toBe("2026-11-24T00:00:00.000Z");
    expect(parseTimeBound("1h", "since", now).toISOString()).toBe("2026-11-24T11:00:00.000Z");
    expect(parseTimeBound("90m", "since", now).toISOString()).toBe("2026-11-24T10:30:00.000Z");
    expect(parseTimeBound("7d", "since", now).toISOString()).toBe("2026-11-17T12:00:00.000Z");
    for (const bad of ["yesterday", "12", "1 hour", "2026-13-45", ""]) {
      expect(() => parseTimeBound(bad, "since", now), bad).toThrow(InvalidInputError);
    }
  });

  it("accepts only the cursors nextCursor gives, and the two time fields", () => {
    expect(parseCursor(" 8873 ")).toBe("8873");
    expect(parseCursor("9223372036854775807")).toBe("9223372036854775807");
    for (const bad of ["0", "-1", "abc", "1.5", "99999999999999999999", "9223372036854775808"]) {
      expect(() => parseCursor(bad), bad).toThrow(/is not valid; pass the nextCursor of the previous page/);
    }
    expect(parseRunTimeField(undefined)).toBe("enqueued_at");
    expect(parseRunTimeField("FINISHED_AT")).toBe("finished_at");
    expect(() => parseRunTimeField("started_at")).toThrow(/give one of enqueued_at, finished_at/);
  });

  it("upper-cases and de-duplicates statuses, naming an unknown one", () => {
    expect(parseStatuses(["failed", " READY ", "FAILED"])).toEqual(["FAILED", "READY"]);
    expect(parseStatuses([])).toEqual([]);
    expect(() => parseStatuses(["DONE"])).toThrow('unknown status "DONE"; give any of READY, RUNNING');
  });
});
