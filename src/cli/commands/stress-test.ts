/**
 * `reproq stress-test --count N`: bulk-enqueues N distinct runs of the built-in reproq.noop task
 * and reports the enqueue rate; with --wait, also how fast running workers drain them.
 * Progress goes to stderr so that --json output stays one document.
 */
import type { Command } from "commander";
import { Backend } from "../../backend.js";
import { enqueueNoops, waitForDrain } from "../../ops/stress.js";
import { type GlobalOptions, output, resolveCliConfig, withPool } from "../context.js";
import { countFlag, durationFlag } from "../flags.js";
import { Progress } from "../progress.js";

interface StressFlags {
  count: string;
  queue?: string;
  batch: string;
  wait?: boolean;
  timeout: string;
}

interface StressReport {
  count: number;
  enqueueSeconds: number;
  enqueueRate: number;
  drainSeconds?: number;
  drainRate?: number;
  /** Runs that ended FAILED, EXPIRED or CANCELLED (with --wait). */
  failed?: number;
}

const EXAMPLES = `
Examples:
  $ reproq stress-test --count 10000                    enqueue only; prints the enqueue rate
  $ reproq stress-test --count 100000 --batch 5000 --wait --timeout 30m
  $ reproq --json stress-test --count 500 --wait --queue bench

The runs use the built-in task reproq.noop, which any worker whose task modules import reproq
knows. Start workers for the queue (default "default") before or after enqueueing.
`;

export function registerStressTestCommand(program: Command): void {
  program
    .command("stress-test")
    .description("enqueue N no-op runs and measure enqueue (and with --wait, drain) throughput")
    .requiredOption("--count <n>", "number of runs to enqueue")
    .option("--queue <name>", "queue for the runs (default: setting defaultQueue)")
    .option("--batch <n>", "runs per bulk insert", "1000")
    .option("--wait", "wait until workers have finished the runs and report the drain rate")
    .option("--timeout <duration>", "with --wait, give up after this long (exit 1)", "10m")
    .addHelpText("after", EXAMPLES)
    .action(async (_flags: StressFlags, cmd: Command) => {
      const opts = cmd.optsWithGlobals<GlobalOptions & StressFlags>();
      const count = countFlag(opts.count, "--count");
      const batch = countFlag(opts.batch, "--batch");
      const timeoutMs = durationFlag(opts.timeout, "--timeout");
      const config = await resolveCliConfig(opts);
      const schema = config.values.schema;
      const report = await withPool(
        config,
        async (pool) => {
          const backend = new Backend({
            alias: "default",
            overrides: { databaseUrl: config.values.databaseUrl, schema },
            configPath: opts.config,
            pool,
          });
          try {
            const progress = new Progress("enqueued", count);
            const enqueued = await enqueueNoops(backend, {
              count,
              batch,
              queue: opts.queue,
              onProgress: (done) => progress.update(done),
            });
            progress.finish();
            const result: StressReport = {
              count,
              enqueueSeconds: round(enqueued.seconds),
              enqueueRate: rate(count, enqueued.seconds),
            };
            if (!opts.wait) return result;
            const drain = new Progress("finished", count);
            const drained = await waitForDrain(pool, schema, enqueued, {
              timeoutMs,
              onProgress: (done) => drain.update(done),
            });
            drain.finish();
            return {
              ...result,
              drainSeconds: round(drained.seconds),
              drainRate: rate(count, drained.seconds),
              failed: drained.failed,
            };
          } finally {
            await backend.close();
          }
        },
        { max: 4 },
      );
      output(opts, report, describe);
    });
}

function describe(report: StressReport): string[] {
  const lines = [`Enqueued ${report.count} runs in ${report.enqueueSeconds}s (${report.enqueueRate} runs/s)`];
  if (report.drainSeconds !== undefined) {
    lines.push(`Finished ${report.count} runs in ${report.drainSeconds}s (${report.drainRate} runs/s)`);
    if (report.failed) lines.push(`${report.failed} run(s) did not succeed; see reproq logs`);
  }
  return lines;
}

function round(seconds: number): number {
  return Math.round(seconds * 1000) / 1000;
}

function rate(count: number, seconds: number): number {
  return seconds > 0 ? Math.round(count / seconds) : count;
}
