/**
 * `reproq check` and `reproq doctor`: one line per finding (`ok|warn|fail  what  message  (hint)`).
 * check runs the essential checks (database, schema, task modules, allow-list) and suits a deploy
 * gate; doctor adds the advisory ones (workers, queues, scheduler, pg_cron). Exit 1 on any fail,
 * and with --strict on any warn too.
 */
import type { Command } from "commander";
import { type Finding, runDoctor, summarize } from "../../ops/doctor.js";
import { type GlobalOptions, output, resolveCliConfig, withPool } from "../context.js";
import { tasksFlag } from "./sync-recurring.js";

interface DoctorFlags {
  tasks?: string[];
  strict?: boolean;
}

const CHECK_EXAMPLES = `
Examples:
  $ reproq check                         database, schema, task modules, allow-list
  $ reproq check --tasks "dist/tasks/**/*.js" --strict
  $ reproq --json check                  print [{ check, status, message, hint }, ...]

Exit status: 0 when nothing failed, 1 on a failed check (with --strict also on a warning).
`;

const DOCTOR_EXAMPLES = `
Examples:
  $ reproq doctor                        everything check does, plus workers, queues, scheduler, pg_cron
  $ reproq doctor --strict               exit 1 on warnings too
  $ reproq --json doctor | jq '.[] | select(.status != "ok")'

Exit status: 0 when nothing failed, 1 on a failed check (with --strict also on a warning).
`;

export function registerDoctorCommands(program: Command): void {
  for (const [name, advisory] of [
    ["check", false],
    ["doctor", true],
  ] as const) {
    program
      .command(name)
      .description(
        advisory
          ? "diagnose a deployment: check's findings plus workers, queues, scheduler and pg_cron"
          : "check that this deployment can work: database, schema, task modules, allow-list",
      )
      .option("--tasks <globs...>", "task modules to import (globs; default: setting tasks)")
      .option("--strict", "exit 1 on warnings too")
      .addHelpText("after", advisory ? DOCTOR_EXAMPLES : CHECK_EXAMPLES)
      .action(async (_flags: DoctorFlags, cmd: Command) => {
        const opts = cmd.optsWithGlobals<GlobalOptions & DoctorFlags>();
        await diagnose(opts, advisory);
      });
  }
}

async function diagnose(opts: GlobalOptions & DoctorFlags, advisory: boolean): Promise<void> {
  const { flags, names } = tasksFlag(opts.tasks);
  const config = await resolveCliConfig(opts, flags, names);
  const run = (db: Parameters<typeof runDoctor>[0]["db"]) =>
    runDoctor({ config: config.values, db, cwd: process.cwd(), advisory });
  // A missing database URL is a finding here, not a configuration error: the rest still gets checked.
  const findings =
    config.values.databaseUrl === undefined ? await run(undefined) : await withPool(config, run, { max: 2 });
  output(opts, findings, renderFindings);

  const counts = summarize(findings);
  const failing = counts.fail + (opts.strict ? counts.warn : 0);
  if (failing > 0) {
    // Findings are the data on stdout; the verdict is the usual one error line on stderr.
    const warned = opts.strict && counts.warn > 0 ? `, ${counts.warn} warning(s) with --strict` : "";
    process.stderr.write(`reproq: ${counts.fail} check(s) failed${warned}\n`);
    process.exitCode = 1;
  }
}

export function renderFindings(findings: readonly Finding[]): string[] {
  const width = Math.max(...findings.map((f) => f.check.length));
  const lines = findings.map(
    (f) => `${f.status.padEnd(4)}  ${f.check.padEnd(width)}  ${f.message}${f.hint ? `  (${f.hint})` : ""}`,
  );
  const counts = summarize(findings);
  return [...lines, "", `${counts.ok} ok, ${counts.warn} warning(s), ${counts.fail} failed`];
}
