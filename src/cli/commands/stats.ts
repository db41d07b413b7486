/**
 * `reproq stats` (alias `status`): one screen of how the system is doing: run counts by
 * status overall and per queue, the oldest due run's wait per queue, paused queues, workers
 * (stale ones flagged), rate limits, schedules and the scheduler mode.
 */
import { getStats, type Stats, type StatusCounts } from "../../ops/stats.js";
import { TASK_STATUSES } from "../../status.js";
import { formatTable } from "../context.js";
import { defineCommand } from "../define.js";

const EXAMPLES = `
Examples:
  $ reproq stats                        counts, queues, workers, limits and schedules
  $ reproq status                       the same
  $ reproq --json stats                 print { counts, queues, workers, rateLimits, schedules, schedulerMode, expiredLeases }

A worker is stale when it has not been seen for 3 heartbeat intervals (heartbeatInterval).
`;

export const statsCommand = defineCommand({
  name: "stats",
  aliases: ["status"],
  description: "show run counts per status and queue, workers, rate limits and schedules",
  help: EXAMPLES,
  database: { max: 1 },
  run: (ctx) =>
    getStats(ctx.db, ctx.schema, {
      heartbeatIntervalMs: ctx.config.values.heartbeatInterval,
      schedulerMode: ctx.config.values.schedulerMode,
    }),
  text: render,
});

/** 950 ms, 42s, 3m 20s, 2h 5m, 3d 4h: two units at most, enough to read at a glance. */
export function formatAge(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

function countCells(counts: StatusCounts): string[] {
  return TASK_STATUSES.map((status) => String(counts[status]));
}

function render(stats: Stats): string[] {
  const lines = formatTable(
    ["QUEUE", ...TASK_STATUSES, "OLDEST READY", "PAUSED"],
    [
      ...stats.queues.map((q) => [
        q.queue,
        ...countCells(q.counts),
        q.oldestReadyAgeMs === null ? "-" : formatAge(q.oldestReadyAgeMs),
        q.paused ? "yes" : "no",
      ]),
      ["(all)", ...countCells(stats.counts), "", ""],
    ],
  );

  const stale = stats.workers.filter((w) => w.stale).length;
  lines.push("", `Workers: ${stats.workers.length}${stale > 0 ? ` (${stale} stale)` : ""}`);
  if (stats.workers.length > 0) {
    lines.push(
      ...formatTable(
        ["WORKER", "HOST", "QUEUES", "RUNNING", "LAST SEEN"],
        stats.workers.map((w) => [
          w.workerId,
          w.hostname,
          w.queues.join(","),
          `${w.running}/${w.concurrency}`,
          `${formatAge(w.idleMs)} ago${w.stale ? " (stale)" : ""}`,
        ]),
      ).map((line) => `  ${line}`),
    );
  }

  lines.push("", `Rate limits: ${stats.rateLimits.length === 0 ? "none" : stats.rateLimits.length}`);
  if (stats.rateLimits.length > 0) {
    lines.push(
      ...formatTable(
        ["KEY", "RATE/S", "BURST", "AVAILABLE"],
        stats.rateLimits.map((l) => [l.key, String(l.rate), String(l.burst), l.available.toFixed(2)]),
      ).map((line) => `  ${line}`),
    );
  }

  lines.push(
    "",
    `Schedules: ${stats.schedules.count} (${stats.schedules.enabled} enabled), scheduler mode ${stats.schedulerMode}`,
    `Expired leases: ${stats.expiredLeases}${stats.expiredLeases > 0 ? " (reproq reclaim re-queues them)" : ""}`,
  );
  return lines;
}
