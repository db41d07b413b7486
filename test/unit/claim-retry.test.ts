import { describe, expect, it } from "vitest";
import { contendedRetryMs } from "../../src/worker/claim-loop.js";

describe("claiming again after key counters were held elsewhere", () => {
  it("starts at once-ish and doubles to a one-second ceiling, so a held lock cannot make a worker spin", () => {
    expect([0, 1, 2, 3].map(contendedRetryMs)).toEqual([5, 10, 20, 40]);
    expect(contendedRetryMs(8)).toBe(1000);
    expect(contendedRetryMs(50)).toBe(1000);
  });
});
