/**
 * `reproq check` and `reproq doctor`: one line per finding (`ok|warn|fail  what  message  (hint)`).
 * check runs the essential checks (database, schema, task modules, allow-list) and suits a deploy
 * gate; doctor adds the advisory ones (workers, queues, scheduler, pg_cron). Exit 1 on any fail,
 * and with --strict on any warn too.
 */
import { type Finding, runDoctor, summarize } from "../../ops/doctor.js";
import { defineCommand } from "../define.js";
import { tasksOption } from "../options.js";

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

function diagnosis(name: string, description: string, help: string, advisory: boolean) {
  return defineCommand<DoctorFlags, undefined, Finding[]>({
    name,
    description,
    options: [tasksOption(), { flags: "--strict", description: "exit 1 on warnings too" }],
    help,
    database: { max: 2 },
    run: (ctx) =>
      runDoctor({
        config: ctx.config.values,
        // A missing database URL is a finding here, not a configuration error: the rest still gets checked.
        db: ctx.config.values.databaseUrl === undefined ? undefined : ctx.db,
        cwd: ctx.cwd,
        advisory,
      }),
    text: renderFindings,
    verdict: (findings, ctx) => {
      const counts = summarize(findings);
      const strict = ctx.flags.strict === true;
      if (counts.fail + (strict ? counts.warn : 0) === 0) return undefined;
      const warned = strict && counts.warn > 0 ? `, ${counts.warn} warning(s) with --strict` : "";
      return `${counts.fail} check(s) failed${warned}`;
    },
  });
}

export const checkCommand = diagnosis(
  "check",
  "check that this deployment can work: database, schema, task modules, allow-list",
  CHECK_EXAMPLES,
  false,
);

export const doctorCommand = diagnosis(
  "doctor",
  "diagnose a deployment: check's findings plus workers, queues, scheduler and pg_cron",
  DOCTOR_EXAMPLES,
  true,
);

function renderFindings(findings: readonly Finding[]): string[] {
  const width = Math.max(...findings.map((f) => f.check.length));
  const lines = findings.map(
    (f) => `${f.status.padEnd(4)}  ${f.check.padEnd(width)}  ${f.message}${f.hint ? `  (${f.hint})` : ""}`,
  );
  const counts = summarize(findings);
  return [...lines, "", `${counts.ok} ok, ${counts.warn} warning(s), ${counts.fail} failed`];
}
