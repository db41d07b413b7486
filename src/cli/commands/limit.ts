/**
 * `reproq limit set|list|delete`: token-bucket rate limits shared by every worker.
 * `ls` and `rm` are aliases (the reference CLI's names).
 */
import type { Command } from "commander";
import { UsageError } from "../../errors.js";
import {
  deleteRateLimitIn,
  listRateLimitsIn,
  type RateLimit,
  setRateLimitIn,
  validateRateLimitKey,
} from "../../ops/flow.js";
import { formatTable, type GlobalOptions, output, resolveCliConfig, withPool } from "../context.js";
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

export function registerLimitCommand(program: Command): void {
  const limit = program
    .command("limit")
    .description("manage token-bucket rate limits (set, list, delete)")
    .addHelpText("after", EXAMPLES);

  limit
    .command("set")
    .description("create or change a rate limit")
    .requiredOption("--key <key>", 'bucket: "global", "queue:<name>" or "task:<name>"')
    .requiredOption("--rate <n>", "tokens per second (0 switches the bucket off)")
    .option("--burst <n>", "bucket size (default: the rate rounded up, at least 1)")
    .addHelpText("after", EXAMPLES)
    .action(async (_flags: SetFlags, cmd: Command) => {
      const opts = cmd.optsWithGlobals<GlobalOptions & SetFlags>();
      const input = {
        key: asUsage("--key", () => validateRateLimitKey(opts.key)),
        rate: number(opts.rate, "--rate", false),
        burst: opts.burst === undefined ? undefined : number(opts.burst, "--burst", true),
      };
      const config = await resolveCliConfig(opts);
      const result = await withPool(config, (pool) => setRateLimitIn(pool, config.values.schema, input), {
        max: 1,
      });
      output(opts, result, (l) => `Set rate limit ${l.key}: ${l.rate} tokens/s, burst ${l.burst}`);
    });

  limit
    .command("list")
    .alias("ls")
    .description("list rate limits")
    .action(async (_flags: unknown, cmd: Command) => {
      const opts = cmd.optsWithGlobals<GlobalOptions>();
      const config = await resolveCliConfig(opts);
      const limits = await withPool(config, (pool) => listRateLimitsIn(pool, config.values.schema), {
        max: 1,
      });
      output(opts, limits, table);
    });

  limit
    .command("delete")
    .alias("rm")
    .description("delete a rate limit")
    .requiredOption("--key <key>", "the bucket to delete")
    .action(async (_flags: { key: string }, cmd: Command) => {
      const opts = cmd.optsWithGlobals<GlobalOptions & { key: string }>();
      const config = await resolveCliConfig(opts);
      const deleted = await withPool(
        config,
        (pool) => deleteRateLimitIn(pool, config.values.schema, opts.key),
        {
          max: 1,
        },
      );
      output(opts, { key: opts.key, deleted }, (r) =>
        r.deleted ? `Deleted rate limit ${r.key}` : `No rate limit ${r.key}; nothing deleted`,
      );
    });
}
