/**
 * Listing runs for operators (`reproq runs list`, and a dashboard through the same function):
 * newest first, filtered by status, queue, task and a time range, paged by a keyset cursor on
 * result_id. Each page walks the primary key backwards over a bounded range of ids, so a page
 * costs the same on a table of any size and needs no index beyond the primary key.
 */

import { guarded, type Queryable } from "../db/pool.js";
import { validateQueueName } from "../definition.js";
import { parseDuration } from "../duration.js";
import { InvalidInputError } from "../errors.js";
import { type RunListRow, selectRunPage } from "../sql/runs.js";
import { parseStatuses, type TaskStatus } from "../status.js";
import { optionalName, wholeNumber } from "./input.js";
import { MAX_RESULT_ID } from "./run-id.js";

export { getRunDetail, type RunDetail } from "./triage.js";

/** The columns a time range can apply to. */
export const RUN_TIME_FIELDS = ["enqueued_at", "finished_at"] as const;
export type RunTimeField = (typeof RUN_TIME_FIELDS)[number];

export const DEFAULT_RUN_LIMIT = 50;
export const MAX_RUN_LIMIT = 1000;
/** Ids one page walks at most: the bound on a page's work when the filters match rarely. */
export const RUN_PAGE_BUDGET = 10_000;

export interface RunListQuery {
  /** Any of TASK_STATUSES; empty or absent for every status. */
  statuses?: readonly string[];
  queue?: string;
  task?: string;
  /** A Date, an ISO time, or a duration such as "1h" meaning that long ago. */
  since?: Date | string;
  until?: Date | string;
  /** The column since/until apply to; default enqueued_at. */
  field?: string;
  /** Default 50, at most 1000. */
  limit?: number;
  /** A cursor from a previous page's nextCursor. */
  after?: string;
  /** Ids walked per page (default 10000); tests use a smaller one. */
  budget?: number;
}

export interface RunSummary {
  id: string;
  queue: string;
  taskName: string;
  status: TaskStatus;
  priority: number;
  attempts: number;
  maxAttempts: number;
  enqueuedAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  lastError: string | null;
}

export interface RunListPage {
  runs: RunSummary[];
  /** Pass as `after` for the next page; null when no older run is left. */
  nextCursor: string | null;
  /**
   * True when the page is short because its walk reached its bound, not the end of the table:
   * older matches may follow on the next page.
   */
  partial: boolean;
}

/** A Date, an ISO 8601 time, or a duration with a unit ("90m", "2d") counted back from `now`. */
export function parseTimeBound(value: Date | string, what: string, now: Date = new Date()): Date {
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new InvalidInputError(`${what}: not a valid Date`);
    return value;
  }
  const text = String(value).trim();
  if (/^\d+(?:\.\d+)?\s*(ms|s|m|h|d|w)$/.test(text)) {
    return new Date(now.getTime() - parseDuration(text, { name: what }));
  }
  const time = /^\d{4}-\d{2}-\d{2}/.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(time)) {
    throw new InvalidInputError(
      `${what}: "${value}" is neither an ISO time (2026-01-31T12:00:00Z) nor a duration ago (30m, 2h, 7d)`,
    );
  }
  return new Date(time);
}

/** The column a time range applies to; default enqueued_at. */
export function parseRunTimeField(value: string | undefined): RunTimeField {
  const field = (value ?? "enqueued_at").trim().toLowerCase();
  if (!(RUN_TIME_FIELDS as readonly string[]).includes(field)) {
    throw new InvalidInputError(`field "${value}" is not valid; give one of ${RUN_TIME_FIELDS.join(", ")}`);
  }
  return field as RunTimeField;
}

/** The cursor is the id the next page starts below: a whole number, as nextCursor gives it. */
export function parseCursor(value: string): string {
  const text = value.trim();
  if (!/^[1-9]\d{0,18}$/.test(text) || BigInt(text) > MAX_RESULT_ID) {
    throw new InvalidInputError(`cursor "${value}" is not valid; pass the nextCursor of the previous page`);
  }
  return text;
}

function toSummary(row: RunListRow): RunSummary {
  return {
    id: row.result_id,
    queue: row.queue_name,
    taskName: row.task_path,
    status: row.status,
    priority: row.priority,
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    enqueuedAt: row.enqueued_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    lastError: row.last_error,
  };
}

/** One page of runs, newest (highest id) first; see RunListQuery. */
export async function listRuns(
  db: Queryable,
  schema: string,
  query: RunListQuery = {},
): Promise<RunListPage> {
  const statuses = parseStatuses(query.statuses ?? []);
  const field = parseRunTimeField(query.field);
  const now = new Date();
  const since = query.since === undefined ? null : parseTimeBound(query.since, "since", now);
  const until = query.until === undefined ? null : parseTimeBound(query.until, "until", now);
  if (since !== null && until !== null && since >= until) {
    throw new InvalidInputError(
      `since (${since.toISOString()}) must be before until (${until.toISOString()})`,
    );
  }
  const limit = wholeNumber(query.limit ?? DEFAULT_RUN_LIMIT, "limit", MAX_RUN_LIMIT);
  const budget = wholeNumber(query.budget ?? RUN_PAGE_BUDGET, "budget", 1_000_000);
  const filter = {
    statuses: statuses.length === 0 ? null : statuses,
    queue: query.queue === undefined ? null : validateQueueName(query.queue, "listRuns"),
    task: optionalName(query.task, "task"),
    field,
    since,
    until,
    before: query.after === undefined ? null : parseCursor(query.after),
    limit,
    budget,
  };
  const page = await guarded(schema, () => selectRunPage(db, schema, filter));
  const runs = page.rows.map(toSummary);
  if (runs.length === limit) return { runs, nextCursor: runs.at(-1)!.id, partial: false };
  return { runs, nextCursor: page.more ? page.floor : null, partial: page.more };
}
