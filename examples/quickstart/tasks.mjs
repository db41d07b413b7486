// Task definitions for the quick start. A worker imports this module to run them.
import { task } from "reproq";

export const add = task("quickstart.add", { queue: "default" }, async (a, b) => a + b);

export const greet = task("quickstart.greet", { maxAttempts: 5, timeout: "30s" }, async (name, when) => {
  return `Hello ${name}, it is ${when.toISOString()}`;
});
