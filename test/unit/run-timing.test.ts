import { afterEach, describe, expect, it, vi } from "vitest";
import { Deadlines } from "../../src/worker/deadlines.js";
import { RunAbort } from "../../src/worker/run-abort.js";

describe("Deadlines (run timeouts on one timer)", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("expires items in deadline order, each at its own time, and never a deleted one", () => {
    vi.useFakeTimers({ now: 0 });
    const expired: Array<[string, number]> = [];
    const deadlines = new Deadlines<string>((item) => expired.push([item, Date.now()]));
    deadlines.add("late", 3000);
    deadlines.add("early", 1000);
    deadlines.add("finished", 2000);
    deadlines.add("also-early", 1000);
    deadlines.delete("finished");
    vi.advanceTimersByTime(999);
    expect(expired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(expired).toEqual([
      ["early", 1000],
      ["also-early", 1000],
    ]);
    vi.advanceTimersByTime(5000);
    expect(expired.map(([item, at]) => `${item}@${at}`)).toEqual([
      "early@1000",
      "also-early@1000",
      "late@3000",
    ]);
  });

  it("holds no timer while nothing is timed, so an idle worker's process can exit", () => {
    vi.useFakeTimers({ now: 0 });
    const deadlines = new Deadlines<number>(() => {});
    deadlines.add(1, 60_000);
    deadlines.add(2, 90_000);
    expect(vi.getTimerCount()).toBe(1);
    deadlines.delete(1);
    expect(vi.getTimerCount()).toBe(1);
    deadlines.delete(2);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe("RunAbort", () => {
  it("tells its listener once, keeps the first reason, and makes a signal only when asked", () => {
    const abort = new RunAbort();
    const heard: unknown[] = [];
    abort.onAbort((reason) => heard.push(reason));
    abort.abort("timeout");
    abort.abort("cancelled");
    expect(heard).toEqual(["timeout"]);
    expect([abort.aborted, abort.reason]).toEqual([true, "timeout"]);
    // A signal asked for after the abort is already aborted, with the same reason.
    expect([abort.signal.aborted, abort.signal.reason]).toEqual([true, "timeout"]);
    // A listener added after the abort hears it at once.
    abort.onAbort((reason) => heard.push(`late:${String(reason)}`));
    expect(heard).toEqual(["timeout", "late:timeout"]);
  });

  it("fires a signal made before the abort", () => {
    const abort = new RunAbort();
    const { signal } = abort;
    const seen: unknown[] = [];
    signal.addEventListener("abort", () => seen.push(signal.reason));
    expect(signal.aborted).toBe(false);
    abort.abort("shutdown");
    expect(seen).toEqual(["shutdown"]);
  });
});
