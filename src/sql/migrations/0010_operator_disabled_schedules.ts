/**
 * Migration 10: a schedule disabled by an operator stays disabled. `reproq sync-recurring` (and
 * the sync after `reproq migrate`) saves every code-defined schedule as enabled, which used to
 * undo `reproq schedules disable` on the next deploy. The flag records that an operator turned
 * the schedule off; the sync keeps such a schedule disabled until `reproq schedules enable`.
 * Adding a column with a constant default rewrites nothing.
 */
import { quoteIdent } from "../../db/names.js";
import type { Migration } from "./types.js";

function up(schema: string): string {
  const s = quoteIdent(schema);
  return `
ALTER TABLE ${s}.periodic_tasks ADD COLUMN disabled_by_operator boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN ${s}.periodic_tasks.disabled_by_operator IS
  'Disabled with reproq schedules disable: the recurring sync keeps it disabled until enabled again.';
`;
}

export const migration0010: Migration = { version: 10, name: "operator_disabled_schedules", up };
