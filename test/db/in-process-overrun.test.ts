/**
 * In-process, a handler that never yields cannot be stopped: the timer that enforces its timeout
 * cannot fire until the handler returns. What the worker promises instead: the run is never
 * SUCCESSFUL past its timeout, and the blocked event loop is reported with the run's id.
 */
import { Writable } from "node:stream";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { task } from "../../src/index.js";
import { useReproq } from "../support/reproq.js";
import { eventually } from "../support/wait.js";
import { startWorker } from "../support/worker.js";

useReproq();

const busy = task("overrun.busy", { queue: "overrun", timeout: "1s", maxAttempts: 1 }, (ms: number) => {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // computing, never yielding
  }
  return "done anyway";
});

function capture(): { logger: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      for (const line of String(chunk).split("\n")) if (line) lines.push(JSON.parse(line));
      callback();
    },
  });
  return { logger: pino({ level: "warn" }, stream), lines };
}

describe("in-process overrun", () => {
  it("records a handler that returned past its timeout as timed out, and reports the blocked loop", async () => {
    const { logger, lines } = capture();
    const worker = await startWorker({ queues: ["overrun"] }, { logger });
    const run = await busy.enqueue(1600);
    await run.wait({ timeout: 15_000 });
    expect(run.status).toBe("FAILED");
    expect(() => run.returnValue).toThrow(/only available when SUCCESSFUL/);
    expect(run.errors.at(-1)).toMatchObject({ kind: "timeout" });
    expect(run.errors.at(-1)?.message).toMatch(/returned after 1\.\d s, past its 1 s timeout/);
    const stall = await eventually(() =>
      lines.find((line) => String(line.msg).includes("event loop was blocked")),
    );
    expect(stall.runs).toEqual([{ id: run.id, task: "overrun.busy" }]);
    expect(stall.blockedMs as number).toBeGreaterThanOrEqual(1000);
    expect(worker.status().eventLoopStalls.count).toBeGreaterThanOrEqual(1);
    expect(worker.status().counts.total.failed).toBe(1);
  });

  it("keeps a quick synchronous handler successful", async () => {
    await startWorker({ queues: ["overrun"] });
    const run = await busy.enqueue(5);
    await run.wait({ timeout: 10_000 });
    expect([run.status, run.returnValue]).toEqual(["SUCCESSFUL", "done anyway"]);
  });
});
