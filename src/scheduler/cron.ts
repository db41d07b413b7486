/**
 * Cron expressions, wrapping croner (pinned: its daylight-saving rules are part of our contract).
 * 5 fields (minute precision) or 6 fields (leading seconds), evaluated in an IANA timezone.
 *
 * Daylight saving, as croner's default "single-value" fixed-time rule defines it:
 * - A fixed-time job (seconds, minutes and hours each a single value, e.g. `30 2 * * *`) whose time
 *   falls in a spring-forward gap runs once at the first valid time after the gap (03:00 local);
 *   when the time occurs twice (fall back) it runs once, at the first occurrence.
 * - Any other job (wildcards, steps, lists, e.g. `0 * * * *`) is an interval job: times in a gap are
 *   skipped and a repeated time runs on both occurrences, so elapsed time between runs stays regular.
 */
import { Cron } from "croner";
import { InvalidInputError } from "../errors.js";

export interface CronSchedule {
  readonly expression: string;
  readonly timezone: string;
  /** True for 6-field expressions (second precision). */
  readonly hasSeconds: boolean;
  /** The first tick strictly after `after`, or null when the expression never fires again. */
  next(after: Date): Date | null;
  /** Up to `n` most recent ticks at or before `at`, oldest first. */
  previous(n: number, at: Date): Date[];
}

/** Whether `timezone` is an IANA name this runtime knows. */
export function isValidTimezone(timezone: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: timezone });
    return true;
  } catch {
    return false;
  }
}

/** Parses and validates; throws InvalidInputError naming `where` on a bad expression or timezone. */
export function parseCron(expression: unknown, timezone: unknown = "UTC", where = "cron"): CronSchedule {
  if (typeof expression !== "string" || expression.trim() === "") {
    throw new InvalidInputError(`${where}: expected a cron expression such as "*/5 * * * *"`);
  }
  const expr = expression.trim().replace(/\s+/g, " ");
  if (typeof timezone !== "string" || timezone === "" || !isValidTimezone(timezone)) {
    throw new InvalidInputError(
      `${where}: timezone ${JSON.stringify(timezone)} is not a known IANA timezone (e.g. "UTC", "Europe/Berlin")`,
    );
  }
  let cron: Cron;
  try {
    cron = new Cron(expr, { timezone, paused: true, mode: "5-or-6-parts" });
  } catch (error) {
    throw new InvalidInputError(
      `${where}: invalid cron expression ${JSON.stringify(expr)}: ${(error as Error).message}; use 5 fields (minute hour day month weekday) or 6 with leading seconds`,
      { cause: error },
    );
  }
  const fields = expr.startsWith("@") ? 5 : expr.split(" ").length;
  if (cron.nextRun(new Date()) === null) {
    throw new InvalidInputError(`${where}: cron expression ${JSON.stringify(expr)} never fires`);
  }
  return {
    expression: expr,
    timezone,
    hasSeconds: fields === 6,
    next: (after) => cron.nextRun(after),
    previous: (n, at) => {
      // previousRuns excludes the reference itself; a tick exactly at `at` is due too.
      const runs = cron.previousRuns(n, new Date(at.getTime() + 1));
      return runs.filter((d) => d.getTime() <= at.getTime()).sort((a, b) => a.getTime() - b.getTime());
    },
  };
}
