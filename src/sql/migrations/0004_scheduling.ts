/**
 * Migration 4: scheduling. SQL producers for periodic tasks (used by pg_cron or by hand):
 * `enqueue_schedule(name)` enqueues a saved schedule from its stored canonical spec, and
 * `enqueue(task_path, args, queue, priority)` builds the canonical spec in SQL for plain JSON args.
 * Both hash with sha256() over the same canonical text as TypeScript, so spec_hash matches.
 */
import { quoteIdent } from "../../db/names.js";
import type { Migration } from "./types.js";

const ACTIVE = "'READY','RUNNING','WAITING'";

function up(schema: string): string {
  const s = quoteIdent(schema);
  return `
ALTER TABLE ${s}.periodic_tasks
  ADD CONSTRAINT periodic_tasks_catch_up_check CHECK (catch_up IN ('one','all','none'));

-- Sort key giving RFC 8785's key order (UTF-16 code units): characters above U+FFFF become their
-- surrogate pair, and U+E000..U+FFFF are lifted above the surrogates, as UTF-16 orders them.
CREATE FUNCTION ${s}.utf16_sort_key(t text) RETURNS integer[]
  LANGUAGE sql IMMUTABLE STRICT AS $fn$
  SELECT coalesce(array_agg(v.u ORDER BY c.i, v.j), '{}')
    FROM (SELECT i, ascii(substr(t, i, 1)) AS cp FROM generate_series(1, length(t)) AS i) c,
         LATERAL (VALUES
           (1, CASE WHEN c.cp >= 65536 THEN 55296 + ((c.cp - 65536) >> 10)
                    WHEN c.cp >= 57344 THEN c.cp + 1048576 ELSE c.cp END),
           (2, CASE WHEN c.cp >= 65536 THEN 56320 + ((c.cp - 65536) & 1023) END)) AS v(j, u)
   WHERE v.u IS NOT NULL
$fn$;

-- RFC 8785 text of a jsonb value, for the subset SQL can produce exactly: strings, booleans,
-- null, arrays, objects, and integers within +-(2^53-1). jsonb's own text form already escapes
-- strings as RFC 8785 does (in a UTF8 database). Other numbers and tagged values are refused.
CREATE FUNCTION ${s}.canonical_json(value jsonb) RETURNS text
  LANGUAGE plpgsql IMMUTABLE STRICT AS $fn$
DECLARE
  out text;
BEGIN
  CASE jsonb_typeof(value)
  WHEN 'object' THEN
    IF value ? '$reproq' THEN
      RAISE EXCEPTION 'reproq: tagged values ("$reproq") cannot be enqueued from SQL; enqueue from TypeScript'
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT '{' || coalesce(string_agg(to_json(e.key)::text || ':' || ${s}.canonical_json(e.value), ','
                                      ORDER BY ${s}.utf16_sort_key(e.key)), '') || '}'
      INTO out FROM jsonb_each(value) AS e;
    RETURN out;
  WHEN 'array' THEN
    SELECT '[' || coalesce(string_agg(${s}.canonical_json(e.value), ',' ORDER BY e.ord), '') || ']'
      INTO out FROM jsonb_array_elements(value) WITH ORDINALITY AS e(value, ord);
    RETURN out;
  WHEN 'number' THEN
    IF value::numeric <> trunc(value::numeric) OR abs(value::numeric) > 9007199254740991 THEN
      RAISE EXCEPTION 'reproq: % is not an integer within +-(2^53-1); SQL enqueue supports only such numbers', value
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN (value::numeric)::bigint::text;
  ELSE
    RETURN value::text;
  END CASE;
END
$fn$;

-- Enqueues one run of a saved schedule from its stored canonical spec (never recomputed here),
-- records last_run_at and returns the run id (an active identical run's id when deduplicated),
-- or NULL when the schedule is disabled. next_run_at is left to the beat scheduler.
CREATE FUNCTION ${s}.enqueue_schedule(schedule_name text) RETURNS bigint
  LANGUAGE plpgsql AS $fn$
DECLARE
  p ${s}.periodic_tasks%ROWTYPE;
  h text;
  rid bigint;
  dedup boolean;
  expires_ms bigint;
BEGIN
  SELECT * INTO p FROM ${s}.periodic_tasks WHERE name = schedule_name FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'reproq: no schedule named "%"', schedule_name USING ERRCODE = 'no_data_found';
  END IF;
  IF NOT p.enabled THEN
    RETURN NULL;
  END IF;
  IF p.spec_canonical IS NULL THEN
    RAISE EXCEPTION 'reproq: schedule "%" has no stored spec; save it with upsertSchedule() or reproq sync-recurring', p.name
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  h := encode(sha256(convert_to(p.spec_canonical, 'UTF8')), 'hex');
  IF h IS DISTINCT FROM p.spec_hash THEN
    RAISE EXCEPTION 'reproq: schedule "%": stored spec_hash does not match spec_canonical', p.name;
  END IF;
  dedup := coalesce((p.options_json->>'dedup')::boolean, true);
  expires_ms := (p.options_json->>'expires_in_ms')::bigint;
  INSERT INTO ${s}.task_runs (queue_name, priority, spec_json, spec_hash, dedup_key, task_path, max_attempts,
                              timeout_seconds, lock_key, concurrency_key, concurrency_limit, expires_at,
                              provenance_json)
  VALUES (p.queue_name, p.priority, p.spec_canonical::jsonb, h, CASE WHEN dedup THEN h END, p.task_path,
          coalesce((p.options_json->>'max_attempts')::integer, 3),
          coalesce((p.options_json->>'timeout_seconds')::integer, 900),
          p.spec_json->>'lock_key', p.spec_json->>'concurrency_key',
          coalesce((p.spec_json->>'concurrency_limit')::integer, 0),
          CASE WHEN expires_ms IS NULL THEN NULL ELSE now() + expires_ms * interval '1 millisecond' END,
          jsonb_build_object('schedule', p.name,
                             'scheduled_for', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                             'producer', 'sql'))
  ON CONFLICT (dedup_key) WHERE dedup_key IS NOT NULL AND status IN (${ACTIVE}) DO NOTHING
  RETURNING result_id INTO rid;
  IF rid IS NULL THEN
    SELECT result_id INTO rid FROM ${s}.task_runs WHERE dedup_key = h AND status IN (${ACTIVE});
  END IF;
  UPDATE ${s}.periodic_tasks SET last_run_at = now(), updated_at = now() WHERE name = p.name;
  RETURN rid;
END
$fn$;

-- Enqueues a run from SQL, building the same canonical spec as TypeScript for plain JSON args
-- (see canonical_json for the supported subset). Lock and concurrency keys are not supported here.
CREATE FUNCTION ${s}.enqueue(task_path text, args jsonb DEFAULT '[]', queue text DEFAULT 'default',
                             priority integer DEFAULT 0) RETURNS bigint
  LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
  c text;
  h text;
  rid bigint;
BEGIN
  IF enqueue.task_path IS NULL OR btrim(enqueue.task_path) = '' THEN
    RAISE EXCEPTION 'reproq: task_path must be a non-empty string' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF enqueue.args IS NULL OR jsonb_typeof(enqueue.args) <> 'array' THEN
    RAISE EXCEPTION 'reproq: args must be a JSON array' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF enqueue.queue IS NULL OR btrim(enqueue.queue) = '' THEN
    RAISE EXCEPTION 'reproq: queue must be a non-empty name' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF enqueue.priority IS NULL OR enqueue.priority NOT BETWEEN -100 AND 100 THEN
    RAISE EXCEPTION 'reproq: priority must be an integer from -100 to 100' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  c := '{"args":' || ${s}.canonical_json(enqueue.args)
    || ',"concurrency_key":null,"concurrency_limit":0,"lock_key":null,"priority":' || enqueue.priority::text
    || ',"queue_name":' || to_json(enqueue.queue)::text
    || ',"run_after":null,"task_path":' || to_json(enqueue.task_path)::text || ',"v":1}';
  h := encode(sha256(convert_to(c, 'UTF8')), 'hex');
  INSERT INTO ${s}.task_runs (queue_name, priority, spec_json, spec_hash, dedup_key, task_path, provenance_json)
  VALUES (enqueue.queue, enqueue.priority, c::jsonb, h, h, enqueue.task_path, '{"producer":"sql"}')
  ON CONFLICT (dedup_key) WHERE dedup_key IS NOT NULL AND status IN (${ACTIVE}) DO NOTHING
  RETURNING result_id INTO rid;
  IF rid IS NULL THEN
    SELECT result_id INTO rid FROM ${s}.task_runs WHERE dedup_key = h AND status IN (${ACTIVE});
  END IF;
  RETURN rid;
END
$fn$;

COMMENT ON FUNCTION ${s}.enqueue_schedule(text) IS 'Enqueue one run of a saved schedule from its stored canonical spec; returns the run id.';
COMMENT ON FUNCTION ${s}.enqueue(text, jsonb, text, integer) IS 'Enqueue a run from SQL (plain JSON args, integers only); returns the run id.';
`;
}

export const migration0004: Migration = { version: 4, name: "scheduling", up };
