// Task definitions for the quick start. The worker (`reproq dev --tasks ...`) imports this module to run them.
import { task } from "reproq";

export const add = task("quickstart.add", { queue: "default" }, async (a, b) => a + b);

export const greet = task("quickstart.greet", { maxAttempts: 5, timeout: "30s" }, async (name, when) => {
  return `Hello ${name}, it is ${when.toISOString()}`;
});

// Fails its first attempt, as a flaky network call would; the retry comes 400 ms later (200ms * 2^1).
export const flaky = task(
  "quickstart.flaky",
  { takesContext: true, maxAttempts: 3, retry: { base: "200ms" } },
  async (ctx, what) => {
    if (ctx.attempt === 1) throw new Error(`${what}: connection reset (a transient failure)`);
    return `${what} worked on attempt ${ctx.attempt}`;
  },
);
