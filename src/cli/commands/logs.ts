/**
 * `reproq logs --id ID [--tail N] [--max-bytes N]`: prints what a run wrote to stdout and
 * stderr, as saved by a worker started with --logs-dir. The file lives on that worker's host,
 * so run this there (or on shared storage).
 */
import { DEFAULT_MAX_LOG_BYTES, readRunLogs } from "../../ops/logs.js";
import { defineCommand } from "../define.js";
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

export const logsCommand = defineCommand({
  name: "logs",
  description: "print the saved stdout/stderr of a run (workers started with --logs-dir)",
  options: [
    { flags: "--id <id>", description: "the run whose logs to print", required: true },
    { flags: "--tail <n>", description: "print only the last n lines" },
    {
      flags: "--max-bytes <n>",
      description: `read at most n bytes from the end of the log (default ${DEFAULT_MAX_LOG_BYTES}, 1 MiB)`,
    },
  ],
  help: EXAMPLES,
  database: { max: 1 },
  parse: (flags: LogsFlags) => ({
    id: runIdFlag(flags.id),
    tail: flags.tail === undefined ? undefined : countFlag(flags.tail, "--tail"),
    maxBytes: flags.maxBytes === undefined ? undefined : countFlag(flags.maxBytes, "--max-bytes"),
  }),
  run: (ctx, { id, ...options }) => readRunLogs(ctx.db, ctx.schema, id, options),
  text: (logs) => logs.text.replace(/\n$/, ""),
  // On stderr, so the log text on stdout stays exactly what the run wrote.
  notes: (logs, ctx) =>
    logs.truncated && !ctx.flags.json
      ? [
          `note: showing the last ${logs.text.length === 0 ? 0 : Buffer.byteLength(logs.text)} of ${logs.sizeBytes} bytes of ${logs.path}; raise --max-bytes to see more`,
        ]
      : [],
});
