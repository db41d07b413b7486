/**
 * Migration 11: a settled batch sends its finish notifications a few hundred runs at a time, not
 * one per run. Each notification costs the settling backend an entry in the notification queue
 * (and a duplicate check against the transaction's others), and every listening session a message
 * to read and parse; a batch of 500 now sends two. The payload lists `id:STATUS` entries separated
 * by commas, at most 250 of them (under 8,000 bytes, PostgreSQL's payload limit, whatever the ids).
 * The per-row trigger still notifies one run at a time for every other change (cancel, expiry, an
 * operator's SQL); listeners read both forms.
 */
import { settleRunsReplacement } from "./0009_settle_hash_join.js";
import type { Migration } from "./types.js";

const FINAL = "'SUCCESSFUL','FAILED','CANCELLED','EXPIRED'";
/** Entries per notification: an entry is at most 30 bytes (a 19-digit id, ':', a status, ','). */
export const FINISHED_PER_NOTIFICATION = 250;

/** Finish notifications a few hundred runs at a time (also used by later settle_runs() definitions). */
export function notifyFinishedInChunks(schema: string): string {
  const channel = `'${`${schema}.finished`.replaceAll("'", "''")}'`;
  return `    PERFORM count(pg_notify(${channel}, c.payload))
       FROM (SELECT string_agg(f.id::text || ':' || f.st, ',') AS payload
               FROM (SELECT d.id, d.st, (row_number() OVER () - 1) / ${FINISHED_PER_NOTIFICATION} AS chunk
                       FROM unnest(v_ids, v_status) AS d(id, st) WHERE d.st IN (${FINAL})) f
              GROUP BY f.chunk) c;`;
}

function up(schema: string): string {
  return settleRunsReplacement(schema, notifyFinishedInChunks(schema));
}

export const migration0011: Migration = { version: 11, name: "batched_finish_notify", up };
