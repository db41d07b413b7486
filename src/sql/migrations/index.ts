/** The ordered list of migrations. Append only: never edit one that has shipped. */
import { migration0001 } from "./0001_initial.js";
import { migration0002 } from "./0002_flow_control.js";
import { migration0003 } from "./0003_workflows.js";
import { migration0004 } from "./0004_scheduling.js";
import { migration0005 } from "./0005_worker_fast_path.js";
import { migration0006 } from "./0006_cheaper_hash_check.js";
import { migration0007 } from "./0007_rate_limit_tolerance.js";
import { migration0008 } from "./0008_set_based_slots.js";
import { migration0009 } from "./0009_settle_hash_join.js";
import { migration0010 } from "./0010_operator_disabled_schedules.js";
import { migration0011 } from "./0011_batched_finish_notify.js";
import { migration0012 } from "./0012_claims_never_wait.js";
import { migration0013 } from "./0013_workflow_lock_order.js";
import { migration0014 } from "./0014_tui_pairings.js";
import type { Migration } from "./types.js";

export type { Migration } from "./types.js";

export const MIGRATIONS: readonly Migration[] = [
  migration0001,
  migration0002,
  migration0003,
  migration0004,
  migration0005,
  migration0006,
  migration0007,
  migration0008,
  migration0009,
  migration0010,
  migration0011,
  migration0012,
  migration0013,
  migration0014,
];

/** The schema version this package expects. */
export const LATEST_SCHEMA_VERSION: number = MIGRATIONS[MIGRATIONS.length - 1]!.version;
