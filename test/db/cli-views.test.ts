/**
 * Operator views: `reproq runs list|show` and `reproq schedules list|show|run-now|enable|disable|
 * delete`, run as the real `reproq` bin from dist/ (build first) against this file's database.
 * Runs are made with the API and moved to a status in SQL.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { task, upsertSchedule } from "../../src/index.js";
import { type CliResult, lines, runCli } from "../support/cli.js";
import { useReproq } from "../support/reproq.js";

const ctx = useReproq();
const work = task("views.work", async (n: number) => n);
const other = task("views.other", async (n: number) => n);
const DIST_INDEX = pathToFileURL(fileURLToPath(new URL("../../dist/index.js", import.meta.url))).href;

let workDir: string;
beforeAll(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), "reproq-cli-views-"));
});
afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

function reproq(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return runCli(["--dsn", ctx.db.url, ...args], { cwd: workDir, env });
}

function json<T>(result: CliResult): T {
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as T;
}

async function setStatus(id: string, status: string): Promise<void> {
  await ctx.db.pool.query(
    `UPDATE reproq.task_runs SET status = $2,
            finished_at = CASE WHEN $2 IN ('SUCCESSFUL','FAILED','CANCELLED','EXPIRED') THEN now() END
      WHERE result_id = $1`,
    [id, status],
  );
}

interface Page {
  runs: Array<{ id: string; status: string; queue: string; taskName: string }>;
  nextCursor: string | null;
  partial: boolean;
}

describe("reproq runs", () => {
  const ids: string[] = [];
  beforeAll(async () => {
    for (let n = 0; n < 12; n++) {
      const definition = n % 3 === 0 ? other : work;
      ids.push((await definition.using({ queue: n % 2 === 0 ? "even" : "odd" }).enqueue(n)).id);
    }
    for (const [index, id] of ids.entries()) {
      if (index % 4 === 1) await setStatus(id, "FAILED");
      if (index % 4 === 2) await setStatus(id, "SUCCESSFUL");
    }
  });

  it("lists newest first with filters, and pages by cursor to the end", async () => {
    const all = json<Page>(await reproq(["--json", "runs", "list"]));
    expect(all.runs.map((r) => r.id)).toEqual([...ids].reverse());
    expect(all.nextCursor).toBeNull();

    const failed = json<Page>(await reproq(["--json", "runs", "list", "--status", "failed,successful"]));
    expect(failed.runs.map((r) => r.id)).toEqual(ids.filter((_, i) => i % 4 === 1 || i % 4 === 2).reverse());
    const repeated = json<Page>(
      await reproq(["--json", "runs", "list", "--status", "FAILED", "--status", "SUCCESSFUL"]),
    );
    expect(repeated.runs).toEqual(failed.runs);

    const filtered = json<Page>(
      await reproq(["--json", "runs", "list", "--queue", "even", "--task", "views.work", "--since", "1h"]),
    );
    expect(filtered.runs.map((r) => r.id)).toEqual(
      ids.filter((_, i) => i % 2 === 0 && i % 3 !== 0).reverse(),
    );
    const future = json<Page>(await reproq(["--json", "runs", "list", "--since", "2999-01-01T00:00:00Z"]));
    expect(future.runs).toEqual([]);

    const seen: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 10; page++) {
      const args: string[] = [
        "--json",
        "runs",
        "list",
        "--limit",
        "5",
        ...(after === null ? [] : ["--after", after]),
      ];
      const result: Page = json<Page>(await reproq(args));
      seen.push(...result.runs.map((r) => r.id));
      after = result.nextCursor;
      if (after === null) break;
    }
    expect(seen).toEqual([...ids].reverse());

    const text = await reproq(["runs", "list", "--limit", "2"]);
    expect(text.code).toBe(0);
    const out = lines(text.stdout);
    expect(out[0]).toMatch(/^ID\s+STATUS\s+QUEUE\s+TASK/);
    expect(out.at(-1)).toBe(`Next page: --after ${ids.at(-2)}`);
    expect(lines((await reproq(["runs", "list", "--after", ids[0]!])).stdout)).toEqual([
      "No runs in this page.",
      "End of list.",
    ]);
  });

  it("refuses a bad filter with one line and exit 2", async () => {
    const cases: Array<[string[], RegExp]> = [
      [["--status", "DONE"], /^reproq: --status: unknown status "DONE"; give any of READY, RUNNING/],
      [["--limit", "1001"], /^reproq: --limit: at most 1000/],
      [["--since", "yesterday"], /^reproq: --since: "yesterday" is neither an ISO time/],
      [
        ["--field", "started_at"],
        /^reproq: --field: field "started_at" is not valid; give one of enqueued_at, finished_at/,
      ],
      [["--since", "1h", "--until", "2h"], /^reproq: --since \(.*\) must be before --until/],
      [["--after", "abc"], /^reproq: --after: cursor "abc" is not valid/],
    ];
    for (const [args, message] of cases) {
      const result = await reproq(["runs", "list", ...args]);
      expect(result.code, args.join(" ")).toBe(2);
      expect(result.stderr).toMatch(message);
      expect(lines(result.stderr)).toHaveLength(1);
    }
  });

  it("shows one run in full as triage show does, and says when there is none", async () => {
    const id = ids[1]!;
    const shown = await reproq(["runs", "show", id]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toBe((await reproq(["triage", "show", "--id", id])).stdout);
    expect(lines(shown.stdout)[0]).toBe(`Run ${id}  FAILED`);
    const detail = json<{ id: string; spec: unknown; errors: unknown[] }>(
      await reproq(["--json", "runs", "show", id]),
    );
    expect(detail.id).toBe(id);
    expect(detail.spec).toBeTypeOf("object");

    const missing = await reproq(["runs", "show", "999999"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe("reproq: task run 999999 does not exist\n");
  });
});

interface ScheduleJson {
  name: string;
  enabled: boolean;
  source: string;
  disabledByOperator: boolean;
  nextRunAt: string | null;
  pgCronJob: boolean | null;
}

describe("reproq schedules", () => {
  it("lists and shows schedules with the scheduler mode", async () => {
    await upsertSchedule({ name: "views.hourly", cron: "0 * * * *", task: work, args: [1] });
    const listing = json<{ mode: string; schedules: ScheduleJson[] }>(
      await reproq(["--json", "schedules", "list"]),
    );
    expect(listing.mode).toBe("beat");
    const hourly = listing.schedules.find((s) => s.name === "views.hourly")!;
    expect(hourly).toMatchObject({
      enabled: true,
      source: "manual",
      pgCronJob: null,
      disabledByOperator: false,
    });

    const text = lines((await reproq(["schedules", "list"])).stdout);
    expect(text[0]).toBe("Scheduler mode: beat");
    expect(text[1]).toMatch(/^NAME\s+CRON\s+TZ\s+NEXT FIRE\s+LAST FIRE\s+ENABLED\s+SOURCE$/);
    expect(text.find((l) => l.startsWith("views.hourly"))).toMatch(
      /0 \* \* \* \*\s+UTC\s+\S+Z\s+-\s+yes\s+manual/,
    );

    const shown = lines((await reproq(["schedules", "show", "views.hourly"])).stdout);
    expect(shown[0]).toBe("Schedule views.hourly");
    expect(shown).toContain("  task         views.work");

    // Under pg_cron without the extension the listing says so instead of failing.
    const pgCron = json<{ mode: string; pgCronVersion: string | null; schedules: ScheduleJson[] }>(
      await reproq(["--json", "schedules", "list"], { REPROQ_SCHEDULER_MODE: "pg_cron" }),
    );
    expect(pgCron).toMatchObject({ mode: "pg_cron", pgCronVersion: null });
    // pg_cron does not move next_run_at, so the next fire comes from the cron expression.
    const next = pgCron.schedules.find((s) => s.name === "views.hourly")!.nextRunAt!;
    expect(next).toMatch(/T\d\d:00:00\.000Z$/);
    expect(Date.parse(next)).toBeGreaterThan(Date.now() - 1000);
    const pgText = lines((await reproq(["schedules", "list"], { REPROQ_SCHEDULER_MODE: "pg_cron" })).stdout);
    expect(pgText[0]).toMatch(/^Scheduler mode: pg_cron, but the pg_cron extension is not installed/);
  });

  it("runs now, disables, enables and deletes; an unknown name is one line and exit 1", async () => {
    await upsertSchedule({ name: "views.daily", cron: "0 3 * * *", task: work, args: [2] });
    const now = await reproq(["schedules", "run-now", "views.daily"]);
    expect(now.stdout).toBe("Schedule views.daily is due now; the next scheduler tick enqueues it\n");
    const { rows } = await ctx.db.pool.query<{ due: boolean }>(
      "SELECT next_run_at <= now() AS due FROM reproq.periodic_tasks WHERE name = 'views.daily'",
    );
    expect(rows[0]!.due).toBe(true);

    expect((await reproq(["schedules", "disable", "views.daily"])).stdout).toBe(
      "Disabled schedule views.daily\n",
    );
    const refused = await reproq(["schedules", "run-now", "views.daily"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(
      'reproq: schedule "views.daily" is disabled; run reproq schedules enable views.daily first\n',
    );
    const enabled = await reproq(["schedules", "enable", "views.daily"]);
    expect(enabled.stdout).toMatch(
      /^Enabled schedule views\.daily; next fire \d{4}-\d\d-\d\dT03:00:00\.000Z\n$/,
    );

    const deleted = await reproq(["schedules", "delete", "views.daily"]);
    expect(deleted.stdout).toBe("Deleted schedule views.daily\n");
    for (const verb of ["show", "run-now", "enable", "disable", "delete"]) {
      const missing = await reproq(["schedules", verb, "views.daily"]);
      expect(missing.code, verb).toBe(1);
      expect(missing.stderr).toBe(
        'reproq: no schedule named "views.daily"; reproq schedules list shows every schedule\n',
      );
    }
  });

  it("keeps a code schedule an operator disabled disabled across sync-recurring, until enabled", async () => {
    const file = path.join(workDir, "recurring-views.mjs");
    await writeFile(
      file,
      `import { recurring, task } from ${JSON.stringify(DIST_INDEX)};
const t = task("views.rec", async (n) => n);
recurring(t, { schedule: "0 1 * * *", key: "views.code", args: [1] });
`,
    );
    const state = async () =>
      json<{ schedule: ScheduleJson }>(await reproq(["--json", "schedules", "show", "views.code"])).schedule;
    expect((await reproq(["sync-recurring", "--tasks", file])).code).toBe(0);
    expect(await state()).toMatchObject({ enabled: true, source: "code", disabledByOperator: false });

    const disabled = await reproq(["schedules", "disable", "views.code"]);
    expect(disabled.stdout).toBe(
      "Disabled schedule views.code; reproq sync-recurring keeps it disabled until reproq schedules enable\n",
    );
    const sync = json<{ unchanged: string[] }>(await reproq(["--json", "sync-recurring", "--tasks", file]));
    expect(sync.unchanged).toContain("views.code");
    expect(await state()).toMatchObject({ enabled: false, disabledByOperator: true, nextRunAt: null });
    expect(
      lines((await reproq(["schedules", "list"])).stdout).find((l) => l.startsWith("views.code")),
    ).toMatch(/no \(by operator\)\s+code$/);

    await reproq(["schedules", "enable", "views.code"]);
    await reproq(["sync-recurring", "--tasks", file]);
    expect(await state()).toMatchObject({ enabled: true, disabledByOperator: false });

    const deleted = await reproq(["schedules", "delete", "views.code"]);
    expect(deleted.stderr).toBe(
      "It is defined in code: reproq sync-recurring saves it again; use reproq schedules disable to keep it off\n",
    );
  });
});
