/**
 * `reproq stress-test --count N`: bulk-enqueues N distinct runs of the built-in reproq.noop task
 * and reports the enqueue rate; with --wait, also how fast running workers drain them.
 * Progress goes to stderr so that --json output stays one document.
 */
import { runStressTest, type StressReport } from "../../ops/stress.js";
import { defineCommand } from "../define.js";
import { countFlag, durationFlag } from "../flags.js";
import { Progress } from "../progress.js";

interface StressFlags {
  count: string;
  queue?: string;
  batch: string;
  wait?: boolean;
  timeout: string;
}

const EXAMPLES = `
Examples:
  $ reproq stress-test --count 10000                    enqueue only; prints the enqueue rate
  $ reproq stress-test --count 100000 --batch 5000 --wait --timeout 30m
  $ reproq --json stress-test --count 500 --wait --queue bench

The runs use the built-in task reproq.noop, which any worker whose task modules import reproq
knows. Start workers for the queue (default "default") before or after enqueueing.
`;

export const stressTestCommand = defineCommand({
  name: "stress-test",
  description: "enqueue N no-op runs and measure enqueue (and with --wait, drain) throughput",
  options: [
    { flags: "--count <n>", description: "number of runs to enqueue", required: true },
    { flags: "--queue <name>", description: "queue for the runs (default: setting defaultQueue)" },
    { flags: "--batch <n>", description: "runs per bulk insert", default: "1000" },
    { flags: "--wait", description: "wait until workers have finished the runs and report the drain rate" },
    {
      flags: "--timeout <duration>",
      description: "with --wait, give up after this long (exit 1)",
      default: "10m",
    },
  ],
  help: EXAMPLES,
  database: { max: 4 },
  parse: (flags: StressFlags) => ({
    count: countFlag(flags.count, "--count"),
    batch: countFlag(flags.batch, "--batch"),
    timeoutMs: durationFlag(flags.timeout, "--timeout"),
    queue: flags.queue,
    wait: flags.wait === true,
  }),
  run: (ctx, input) =>
    runStressTest(ctx.db, {
      ...input,
      schema: ctx.schema,
      databaseUrl: ctx.config.values.databaseUrl,
      configPath: ctx.flags.config,
      progress: (phase, total) => new Progress(phase, total),
    }),
  text: describe,
});

function describe(report: StressReport): string[] {
  const lines = [`Enqueued ${report.count} runs in ${report.enqueueSeconds}s (${report.enqueueRate} runs/s)`];
  if (report.drainSeconds !== undefined) {
    lines.push(`Finished ${report.count} runs in ${report.drainSeconds}s (${report.drainRate} runs/s)`);
    if (report.failed) lines.push(`${report.failed} run(s) did not succeed; see reproq logs`);
  }
  return lines;
}
