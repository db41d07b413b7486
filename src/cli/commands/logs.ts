/**
 * `reproq logs --id ID [--tail N] [--max-bytes N]`: prints what a run wrote to stdout and
 * stderr, as saved by a worker started with --logs-dir. The file lives on that worker's host,
 * so run this there (or on shared storage).
 */
import type { Command } from "commander";
import { DEFAULT_MAX_LOG_BYTES, readRunLogs } from "../../ops/logs.js";
import { type GlobalOptions, output, resolveCliConfig, withPool } from "../context.js";
import { countFlag, runIdFlag } from "../flags.js";

interface LogsFlags {
  id: string;
  tail?: string;
  maxBytes?: string;
}

const EXAMPLES = `
Examples:
  $ reproq logs --id 42                 the run's output (its last attempt that wrote any)
  $ reproq logs --id 42 --tail 20       only the last 20 lines
  $ reproq logs --id 42 --max-bytes 10000
  $ reproq --json logs --id 42          print { id, path, sizeBytes, text, truncated }

Lines the run wrote to stderr start with "[stderr] ".
`;

export function registerLogsCommand(program: Command): void {
  program
    .command("logs")
    .description("print the saved stdout/stderr of a run (workers started with --logs-dir)")
    .requiredOption("--id <id>", "the run whose logs to print")
    .option("--tail <n>", "print only the last n lines")
    .option(
      "--max-bytes <n>",
      `read at most n bytes from the end of the log (default ${DEFAULT_MAX_LOG_BYTES}, 1 MiB)`,
    )
    .addHelpText("after", EXAMPLES)
    .action(async (_flags: LogsFlags, cmd: Command) => {
      const opts = cmd.optsWithGlobals<GlobalOptions & LogsFlags>();
      const id = runIdFlag(opts.id);
      const tail = opts.tail === undefined ? undefined : countFlag(opts.tail, "--tail");
      const maxBytes = opts.maxBytes === undefined ? undefined : countFlag(opts.maxBytes, "--max-bytes");
      const config = await resolveCliConfig(opts);
      const logs = await withPool(
        config,
        (pool) => readRunLogs(pool, config.values.schema, id, { tail, maxBytes }),
        {
          max: 1,
        },
      );
      if (logs.truncated && !opts.json) {
        // On stderr, so the log text on stdout stays exactly what the run wrote.
        process.stderr.write(
          `note: showing the last ${logs.text.length === 0 ? 0 : Buffer.byteLength(logs.text)} of ${logs.sizeBytes} bytes of ${logs.path}; raise --max-bytes to see more\n`,
        );
      }
      output(opts, logs, () => logs.text.replace(/\n$/, ""));
    });
}
