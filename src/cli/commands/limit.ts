/**
 * `reproq limit set|list|delete`: token-bucket rate limits shared by every worker.
 * `ls` and `rm` are aliases (the reference CLI's names).
 */
import { UsageError } from "../../errors.js";
import {
  deleteRateLimitIn,
  listRateLimitsIn,
  type RateLimit,
  setRateLimitIn,
  validateRateLimitKey,
} from "../../ops/flow.js";
import { formatTable } from "../context.js";
import { defineCommand, defineGroup } from "../define.js";
import { asUsage } from "../flags.js";

interface SetFlags {
  key: string;
  rate: string;
  burst?: string;
}

const EXAMPLES = `
Examples:
  $ reproq limit set --key queue:default --rate 5 --burst 10   at most 5 runs/s from queue "default", bursts of 10
  $ reproq limit set --key task:emails.send --rate 0.5          one run every 2 s (burst 1)
  $ reproq limit set --key global --rate 100
  $ reproq limit list
  $ reproq limit delete --key queue:default

A task bucket beats a queue bucket, which beats "global"; a rate of 0 switches a bucket off.
`;

function number(value: string, flag: string, integer: boolean): number {
  const n = Number(value.trim());
  if (
    value.trim() === "" ||
    !Number.isFinite(n) ||
    n < (integer ? 1 : 0) ||
    (integer && !Number.isInteger(n))
  ) {
    throw new UsageError(
      `${flag}: "${value}" is not valid; give ${integer ? "a whole number" : "a number"} >= ${integer ? 1 : 0}`,
    );
  }
  return n;
}

function table(limits: RateLimit[]): string[] {
  if (limits.length === 0) return ["No rate limits configured."];
  return formatTable(
    ["KEY", "RATE/S", "BURST", "AVAILABLE"],
    limits.map((l) => [l.key, String(l.rate), String(l.burst), l.available.toFixed(2)]),
  );
}

const setCommand = defineCommand({
  name: "set",
  description: "create or change a rate limit",
  options: [
    {
      flags: "--key <key>",
      description: 'bucket: "global", "queue:<name>" or "task:<name>"',
      required: true,
    },
    { flags: "--rate <n>", description: "tokens per second (0 switches the bucket off)", required: true },
    { flags: "--burst <n>", description: "bucket size (default: the rate rounded up, at least 1)" },
  ],
  help: EXAMPLES,
  database: { max: 1 },
  parse: (flags: SetFlags) => ({
    key: asUsage("--key", () => validateRateLimitKey(flags.key)),
    rate: number(flags.rate, "--rate", false),
    burst: flags.burst === undefined ? undefined : number(flags.burst, "--burst", true),
  }),
  run: (ctx, input) => setRateLimitIn(ctx.db, ctx.schema, input),
  text: (l) => `Set rate limit ${l.key}: ${l.rate} tokens/s, burst ${l.burst}`,
});

const listCommand = defineCommand({
  name: "list",
  aliases: ["ls"],
  description: "list rate limits",
  database: { max: 1 },
  run: (ctx) => listRateLimitsIn(ctx.db, ctx.schema),
  text: table,
});

const deleteCommand = defineCommand({
  name: "delete",
  aliases: ["rm"],
  description: "delete a rate limit",
  options: [{ flags: "--key <key>", description: "the bucket to delete", required: true }],
  database: { max: 1 },
  parse: (flags: { key: string }) => flags.key,
  run: async (ctx, key) => ({ key, deleted: await deleteRateLimitIn(ctx.db, ctx.schema, key) }),
  text: (r) => (r.deleted ? `Deleted rate limit ${r.key}` : `No rate limit ${r.key}; nothing deleted`),
});

export const limitCommand = defineGroup({
  name: "limit",
  description: "manage token-bucket rate limits (set, list, delete)",
  help: EXAMPLES,
  commands: [setCommand, listCommand, deleteCommand],
});
