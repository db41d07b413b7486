import { describe, expect, it } from "vitest";
import type { TaskDefinition } from "../../src/definition.js";
import { NonRetryableError, RunAborted, SnoozeSignal } from "../../src/worker/control.js";
import {
  type ClassifyContext,
  classifyFailure,
  describeThrown,
  taskBackoff,
  UnrunnableTask,
} from "../../src/worker/outcome.js";

const now = new Date("2026-01-02T03:04:05.000Z");
const backoff = { baseMs: 1000, capMs: 60_000, jitter: 0 };

function context(overrides: Partial<ClassifyContext> = {}): ClassifyContext {
  return { workerId: "w1", backoff, definition: undefined, now, random: () => 0.5, ...overrides };
}

function definitionWith(retry: TaskDefinition["options"]["retry"]): TaskDefinition {
  return {
    name: "t",
    handler: () => {},
    options: { retry },
    takesContext: false,
  } as unknown as TaskDefinition;
}

describe("classifyFailure: what a failed attempt means for its run", () => {
  it("retries an exception while attempts remain, with the backoff delay for that attempt", () => {
    const first = classifyFailure({ attempts: 1, max_attempts: 3 }, new Error("boom"), context());
    expect(first.outcome).toEqual({ kind: "retry", delayMs: 2000 });
    const second = classifyFailure({ attempts: 2, max_attempts: 3 }, new Error("boom"), context());
    expect(second.outcome).toEqual({ kind: "retry", delayMs: 4000 });
    expect(first.record).toMatchObject({
      kind: "exception",
      class: "Error",
      message: "boom",
      attempt: 1,
      worker: "w1",
      at: "2026-01-02T03:04:05.000Z",
    });
    expect(first.record?.stack).toContain("boom");
  });

  it("fails an exception on the last attempt, keeping its record", () => {
    const last = classifyFailure({ attempts: 3, max_attempts: 3 }, new TypeError("bad"), context());
    expect(last.outcome).toEqual({ kind: "fail" });
    expect(last.record).toMatchObject({ kind: "exception", class: "TypeError", message: "bad", attempt: 3 });
  });

  it("caps the delay and spreads it by the jitter either way", () => {
    const capped = classifyFailure({ attempts: 10, max_attempts: 20 }, new Error("x"), context());
    expect(capped.outcome).toEqual({ kind: "retry", delayMs: 60_000 });
    const jittered = context({ backoff: { ...backoff, jitter: 0.5 }, random: () => 1 });
    expect(classifyFailure({ attempts: 1, max_attempts: 3 }, new Error("x"), jittered).outcome).toEqual({
      kind: "retry",
      delayMs: 3000,
    });
    const low = context({ backoff: { ...backoff, jitter: 0.5 }, random: () => 0 });
    expect(classifyFailure({ attempts: 1, max_attempts: 3 }, new Error("x"), low).outcome).toEqual({
      kind: "retry",
      delayMs: 1000,
    });
  });

  it("uses the task's own retry policy over the worker's", () => {
    const definition = definitionWith({ base: "10ms", cap: "25ms" });
    const classified = classifyFailure(
      { attempts: 2, max_attempts: 5 },
      new Error("x"),
      context({ definition }),
    );
    expect(classified.outcome).toEqual({ kind: "retry", delayMs: 25 });
    expect(taskBackoff(definitionWith({ jitter: 0.2 }), backoff)).toEqual({ ...backoff, jitter: 0.2 });
    expect(taskBackoff(undefined, backoff)).toBe(backoff);
  });

  it("retries a timeout like an exception, recorded as a timeout", () => {
    const timeout = new RunAborted("timeout", "timed out after 2 s");
    expect(classifyFailure({ attempts: 1, max_attempts: 2 }, timeout, context())).toMatchObject({
      outcome: { kind: "retry" },
      record: { kind: "timeout", message: "timed out after 2 s" },
    });
    expect(classifyFailure({ attempts: 2, max_attempts: 2 }, timeout, context()).outcome).toEqual({
      kind: "fail",
    });
  });

  it("cancels a cancelled run whatever attempts remain", () => {
    const classified = classifyFailure(
      { attempts: 1, max_attempts: 9 },
      new RunAborted("cancelled", "cancelled while running"),
      context(),
    );
    expect(classified.outcome).toEqual({ kind: "cancel" });
    expect(classified.record?.kind).toBe("cancelled");
  });

  it("releases a run on shutdown or lease loss without an error record", () => {
    for (const reason of ["shutdown", "lease_lost"] as const) {
      expect(
        classifyFailure({ attempts: 1, max_attempts: 3 }, new RunAborted(reason, "x"), context()),
      ).toEqual({
        outcome: { kind: "release" },
        record: null,
      });
    }
  });

  it("snoozes without an error record", () => {
    expect(classifyFailure({ attempts: 1, max_attempts: 1 }, new SnoozeSignal(30_000), context())).toEqual({
      outcome: { kind: "snooze", delayMs: 30_000 },
      record: null,
    });
  });

  it("fails unrunnable and non-retryable errors at once, with their kind", () => {
    const unknown = classifyFailure(
      { attempts: 1, max_attempts: 5 },
      new UnrunnableTask("unknown_task", 'task "x" is not registered'),
      context(),
    );
    expect(unknown).toMatchObject({ outcome: { kind: "fail" }, record: { kind: "unknown_task" } });
    const nonRetryable = classifyFailure(
      { attempts: 1, max_attempts: 5 },
      new NonRetryableError("no"),
      context(),
    );
    expect(nonRetryable).toMatchObject({ outcome: { kind: "fail" }, record: { kind: "non_retryable" } });
    const fromChild = Object.assign(new NonRetryableError("bad return"), { kind: "bad_return" });
    expect(classifyFailure({ attempts: 1, max_attempts: 5 }, fromChild, context()).record?.kind).toBe(
      "bad_return",
    );
  });
});

describe("describeThrown: a faithful record of anything thrown", () => {
  it("keeps an Error's class, message and stack", () => {
    class QuotaError extends Error {}
    const described = describeThrown(new QuotaError("over quota"));
    expect(described.class).toBe("QuotaError");
    expect(described.message).toBe("over quota");
    expect(described.stack).toContain("over quota");
  });

  it("prints a thrown object as it is, never [object Object]", () => {
    const described = describeThrown({ code: 42, detail: { retry: false } });
    expect(described).toEqual({
      class: "Object",
      message: "{ code: 42, detail: { retry: false } }",
      stack: null,
    });
  });

  it("keeps strings, numbers, null and undefined recognisable", () => {
    expect(describeThrown("plain")).toEqual({ class: "string", message: "plain", stack: null });
    expect(describeThrown(7)).toEqual({ class: "number", message: "7", stack: null });
    expect(describeThrown(null)).toEqual({ class: "null", message: "null", stack: null });
    expect(describeThrown(undefined)).toEqual({ class: "undefined", message: "undefined", stack: null });
    expect(describeThrown(Object.create(null)).class).toBe("Object");
  });
});
