/**
 * Migration 2: flow control. Per-key running counters (lock keys and concurrency keys),
 * kept exact by a trigger on every transition into or out of RUNNING, and the claim
 * function that enforces lock keys, concurrency limits and token-bucket rate limits
 * without head-of-line blocking.
 */
import { quoteIdent } from "../../db/names.js";
import type { Migration } from "./types.js";

function up(schema: string): string {
  const s = quoteIdent(schema);
  const lit = (text: string) => `'${text.replaceAll("'", "''")}'`;
  return `
-- One row per key: 'c:<concurrency_key>' or 'l:<lock_key>'. running = RUNNING runs holding the key.
CREATE TABLE ${s}.concurrency_slots (
  key        text PRIMARY KEY,
  running    integer     NOT NULL DEFAULT 0 CHECK (running >= 0),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Counters follow the runs in the same transaction, whoever changes the status
-- (claim, completion, failure, release, the lease reaper, or an operator's SQL).
CREATE FUNCTION ${s}.track_slots() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  delta integer;
BEGIN
  IF TG_OP = 'DELETE' THEN
    delta := -1;
  ELSE
    delta := CASE WHEN NEW.status = 'RUNNING' THEN 1 ELSE -1 END;
  END IF;
  IF TG_OP = 'DELETE' THEN NEW := OLD; END IF;
  IF NEW.concurrency_key IS NOT NULL AND NEW.concurrency_limit > 0 THEN
    INSERT INTO ${s}.concurrency_slots AS cs (key, running) VALUES ('c:' || NEW.concurrency_key, greatest(delta, 0))
      ON CONFLICT (key) DO UPDATE SET running = greatest(cs.running + delta, 0), updated_at = now();
  END IF;
  IF NEW.lock_key IS NOT NULL THEN
    INSERT INTO ${s}.concurrency_slots AS cs (key, running) VALUES ('l:' || NEW.lock_key, greatest(delta, 0))
      ON CONFLICT (key) DO UPDATE SET running = greatest(cs.running + delta, 0), updated_at = now();
  END IF;
  IF delta < 0 THEN
    -- A key was freed: wake workers whose candidates were held back by it.
    PERFORM pg_notify(${lit(`${schema}.enqueued`)}, '{"*":0}');
  END IF;
  RETURN NULL;
END
$fn$;

CREATE TRIGGER task_runs_track_slots AFTER UPDATE OF status ON ${s}.task_runs
  FOR EACH ROW
  WHEN ((OLD.status = 'RUNNING') IS DISTINCT FROM (NEW.status = 'RUNNING')
        AND (NEW.lock_key IS NOT NULL OR (NEW.concurrency_key IS NOT NULL AND NEW.concurrency_limit > 0)))
  EXECUTE FUNCTION ${s}.track_slots();

CREATE TRIGGER task_runs_track_slots_delete AFTER DELETE ON ${s}.task_runs
  FOR EACH ROW
  WHEN (OLD.status = 'RUNNING'
        AND (OLD.lock_key IS NOT NULL OR (OLD.concurrency_key IS NOT NULL AND OLD.concurrency_limit > 0)))
  EXECUTE FUNCTION ${s}.track_slots();

/*
 * Claims up to p_limit runs for a worker. Candidates are READY, due, unexpired runs of the
 * served, unpaused queues whose keys are not saturated and whose rate-limit bucket is not
 * empty (so a throttled run never hides the runs behind it). Key counters and buckets are
 * locked in key order, then candidates are admitted in claim order while capacity lasts.
 * When a bucket held candidates back, one extra row with result_id NULL carries
 * retry_after_ms: when its next token arrives.
 */
CREATE FUNCTION ${s}.claim_runs(p_worker text, p_limit integer, p_lease_ms bigint, p_names text[], p_patterns text[])
RETURNS TABLE (result_id bigint, task_path text, queue_name text, priority integer, args jsonb, attempts integer,
               max_attempts integer, timeout_seconds integer, lease_token uuid, metadata_json jsonb,
               enqueued_at timestamptz, cancel_requested boolean, retry_after_ms bigint)
LANGUAGE plpgsql AS $fn$
DECLARE
  v_limited boolean;
  v_task_active text[] := '{}';
  v_queue_active text[] := '{}';
  v_global_active boolean := false;
  v_empty_tasks text[] := '{}';
  v_empty_queues text[] := '{}';
  v_global_empty boolean := false;
  v_retry_ms bigint := NULL;
  v_ids bigint[];
  v_admitted bigint[];
  v_taken integer := 0;
  v_round integer := 0;
  v_want integer;
  v_seen bigint[] := '{}';
  v_keys text[];
  v_locked text[] := '{}';
  v_clock timestamptz;
  v_names text[] := p_names;
BEGIN
  IF p_limit <= 0 THEN RETURN; END IF;
  SELECT EXISTS (SELECT 1 FROM ${s}.rate_limits WHERE tokens_per_second > 0) INTO v_limited;
  IF v_limited THEN
    -- Refill every active bucket, lock them in key order, and note which ones are empty.
    PERFORM 1 FROM ${s}.rate_limits WHERE tokens_per_second > 0 ORDER BY key FOR UPDATE;
    -- Refill against the clock read now that the buckets are locked, not now() (the start of this
    -- transaction): a claim that waited for the lock must not see a refill time in its future.
    v_clock := clock_timestamp();
    UPDATE ${s}.rate_limits rl
       SET current_tokens = least(rl.burst_size::double precision,
                                  rl.current_tokens
                                  + greatest(extract(epoch FROM (v_clock - rl.last_refilled_at)), 0) * rl.tokens_per_second),
           last_refilled_at = greatest(rl.last_refilled_at, v_clock)
     WHERE rl.tokens_per_second > 0;
    SELECT coalesce(array_agg(substr(key, 6)) FILTER (WHERE key LIKE 'task:%'), '{}'),
           coalesce(array_agg(substr(key, 7)) FILTER (WHERE key LIKE 'queue:%'), '{}'),
           coalesce(bool_or(key = 'global'), false),
           coalesce(array_agg(substr(key, 6)) FILTER (WHERE key LIKE 'task:%' AND current_tokens < 1), '{}'),
           coalesce(array_agg(substr(key, 7)) FILTER (WHERE key LIKE 'queue:%' AND current_tokens < 1), '{}'),
           coalesce(bool_or(key = 'global' AND current_tokens < 1), false)
      INTO v_task_active, v_queue_active, v_global_active, v_empty_tasks, v_empty_queues, v_global_empty
      FROM ${s}.rate_limits WHERE tokens_per_second > 0;
  END IF;

  WHILE v_taken < p_limit AND v_round < 3 LOOP
    v_round := v_round + 1;
    -- The first round takes exactly what is wanted (the common, unconstrained case);
    -- later rounds look further to get past candidates held back by their keys or buckets.
    v_want := CASE WHEN v_round = 1 THEN p_limit - v_taken ELSE (p_limit - v_taken) * 4 END;
    SELECT array_agg(c.result_id ORDER BY c.priority DESC, c.run_after, c.result_id) INTO v_ids
      FROM (
        SELECT r.result_id, r.priority, r.run_after
          FROM ${s}.task_runs r
         WHERE r.status = 'READY'
           AND (r.queue_name = ANY(v_names) OR r.queue_name LIKE ANY(p_patterns))
           AND r.run_after <= now()
           AND (r.expires_at IS NULL OR r.expires_at > now())
           AND r.result_id <> ALL(v_seen)
           AND NOT EXISTS (SELECT 1 FROM ${s}.queue_controls qc WHERE qc.queue_name = r.queue_name AND qc.paused)
           AND (r.lock_key IS NULL OR NOT EXISTS (
                 SELECT 1 FROM ${s}.concurrency_slots cs WHERE cs.key = 'l:' || r.lock_key AND cs.running >= 1))
           AND (r.concurrency_key IS NULL OR r.concurrency_limit = 0 OR NOT EXISTS (
                 SELECT 1 FROM ${s}.concurrency_slots cs
                  WHERE cs.key = 'c:' || r.concurrency_key AND cs.running >= r.concurrency_limit))
           AND (NOT v_limited OR NOT (
                 r.task_path = ANY(v_empty_tasks)
              OR (NOT r.task_path = ANY(v_task_active) AND r.queue_name = ANY(v_empty_queues))
              OR (v_global_empty AND NOT r.task_path = ANY(v_task_active) AND NOT r.queue_name = ANY(v_queue_active))))
         ORDER BY r.priority DESC, r.run_after, r.result_id
         LIMIT v_want
         FOR UPDATE SKIP LOCKED
      ) c;
    EXIT WHEN v_ids IS NULL;
    v_seen := v_seen || v_ids;

    -- Lock the counter of every key involved. The first round creates missing counters and
    -- locks them all in key order, in one statement, so claims and completions (which also lock
    -- in key order) never deadlock. Later rounds already hold locks, so they never wait: they
    -- skip counters someone else holds and admit only runs whose counters they hold.
    SELECT coalesce(array_agg(k ORDER BY k), '{}') INTO v_keys FROM (
      SELECT 'l:' || r.lock_key AS k FROM ${s}.task_runs r WHERE r.result_id = ANY(v_ids) AND r.lock_key IS NOT NULL
      UNION
      SELECT 'c:' || r.concurrency_key FROM ${s}.task_runs r
       WHERE r.result_id = ANY(v_ids) AND r.concurrency_key IS NOT NULL AND r.concurrency_limit > 0) keys;
    IF v_round = 1 THEN
      INSERT INTO ${s}.concurrency_slots AS cs (key)
      SELECT k FROM unnest(v_keys) AS u(k) ORDER BY k
      ON CONFLICT (key) DO UPDATE SET updated_at = cs.updated_at;
      v_locked := v_keys;
    ELSE
      SELECT v_locked || coalesce(array_agg(l.key ORDER BY l.key), '{}') INTO v_locked
        FROM (SELECT cs.key FROM ${s}.concurrency_slots cs
               WHERE cs.key = ANY(v_keys) AND cs.key <> ALL(v_locked)
                 FOR UPDATE SKIP LOCKED) l;
    END IF;

    -- Admit in claim order while every key and bucket has room. Ranks count all earlier
    -- candidates sharing a key or bucket, so the check can only under-admit, never over-admit.
    WITH cand AS (
      SELECT r.result_id AS id, o.ord, r.lock_key, r.concurrency_key, r.concurrency_limit,
             CASE WHEN NOT v_limited THEN NULL
                  WHEN r.task_path = ANY(v_task_active) THEN 'task:' || r.task_path
                  WHEN r.queue_name = ANY(v_queue_active) THEN 'queue:' || r.queue_name
                  WHEN v_global_active THEN 'global' END AS bucket
        FROM unnest(v_ids) WITH ORDINALITY AS o(id, ord)
        JOIN ${s}.task_runs r ON r.result_id = o.id
    ), ranked AS (
      SELECT cand.*,
             row_number() OVER (PARTITION BY cand.lock_key ORDER BY cand.ord) AS lock_rank,
             row_number() OVER (PARTITION BY cand.concurrency_key ORDER BY cand.ord) AS key_rank,
             row_number() OVER (PARTITION BY cand.bucket ORDER BY cand.ord) AS bucket_rank
        FROM cand
    )
    SELECT array_agg(k.id ORDER BY k.ord) INTO v_admitted
      FROM (
        SELECT ranked.id, ranked.ord
          FROM ranked
          LEFT JOIN ${s}.concurrency_slots ls ON ls.key = 'l:' || ranked.lock_key
          LEFT JOIN ${s}.concurrency_slots cs ON cs.key = 'c:' || ranked.concurrency_key
          LEFT JOIN ${s}.rate_limits b ON b.key = ranked.bucket
         WHERE (ranked.lock_key IS NULL
                OR ('l:' || ranked.lock_key = ANY(v_locked) AND ls.running + ranked.lock_rank <= 1))
           AND (ranked.concurrency_key IS NULL OR ranked.concurrency_limit = 0
                OR ('c:' || ranked.concurrency_key = ANY(v_locked)
                    AND cs.running + ranked.key_rank <= ranked.concurrency_limit))
           AND (ranked.bucket IS NULL OR ranked.bucket_rank <= floor(b.current_tokens))
         ORDER BY ranked.ord
         LIMIT p_limit - v_taken
      ) k;

    IF v_admitted IS NOT NULL THEN
      IF v_limited THEN
        UPDATE ${s}.rate_limits rl SET current_tokens = rl.current_tokens - u.n, updated_at = now()
          FROM (SELECT CASE WHEN r.task_path = ANY(v_task_active) THEN 'task:' || r.task_path
                            WHEN r.queue_name = ANY(v_queue_active) THEN 'queue:' || r.queue_name
                            WHEN v_global_active THEN 'global' END AS bucket, count(*) AS n
                  FROM ${s}.task_runs r WHERE r.result_id = ANY(v_admitted) GROUP BY 1) u
         WHERE rl.key = u.bucket;
      END IF;
      v_taken := v_taken + cardinality(v_admitted);
      RETURN QUERY
        UPDATE ${s}.task_runs r
           SET status = 'RUNNING', attempts = r.attempts + 1, started_at = coalesce(r.started_at, now()),
               last_attempted_at = now(), leased_by = p_worker,
               leased_until = now() + p_lease_ms * interval '1 millisecond',
               lease_token = gen_random_uuid(), worker_ids = array_append(r.worker_ids, p_worker), updated_at = now()
         WHERE r.result_id = ANY(v_admitted)
     RETURNING r.result_id, r.task_path, r.queue_name, r.priority, r.spec_json -> 'args', r.attempts, r.max_attempts,
               r.timeout_seconds, r.lease_token, r.metadata_json, r.enqueued_at, r.cancel_requested, NULL::bigint;
    END IF;
    -- Everything fetched was admitted: nothing is being held back, no need to look further.
    EXIT WHEN coalesce(cardinality(v_admitted), 0) = cardinality(v_ids);
    IF v_limited THEN
      -- Tokens were just taken: buckets this round emptied hold back the rest of their runs,
      -- so the next round must not fetch (and lock) those runs only to turn them away.
      SELECT coalesce(array_agg(substr(key, 6)) FILTER (WHERE key LIKE 'task:%' AND current_tokens < 1), '{}'),
             coalesce(array_agg(substr(key, 7)) FILTER (WHERE key LIKE 'queue:%' AND current_tokens < 1), '{}'),
             coalesce(bool_or(key = 'global' AND current_tokens < 1), false)
        INTO v_empty_tasks, v_empty_queues, v_global_empty
        FROM ${s}.rate_limits WHERE tokens_per_second > 0;
      -- Without task buckets (which override queue ones), a queue whose governing bucket is empty
      -- has nothing claimable left this call: stop serving it here.
      IF cardinality(v_task_active) = 0 THEN
        v_names := ARRAY(
          SELECT n FROM unnest(v_names) AS u(n)
           WHERE NOT (n = ANY(v_empty_queues)
                      OR (v_global_empty AND NOT n = ANY(v_queue_active))));
        EXIT WHEN cardinality(v_names) = 0 AND cardinality(p_patterns) = 0;
      END IF;
    END IF;
  END LOOP;

  IF v_limited THEN
    -- Buckets that are empty now (also those this claim emptied): when does the next token arrive?
    SELECT min(ceil((1 - rl.current_tokens) / rl.tokens_per_second * 1000)::bigint) INTO v_retry_ms
      FROM ${s}.rate_limits rl WHERE rl.tokens_per_second > 0 AND rl.current_tokens < 1;
  END IF;
  IF v_retry_ms IS NOT NULL THEN
    RETURN QUERY SELECT NULL::bigint, NULL::text, NULL::text, NULL::integer, NULL::jsonb, NULL::integer, NULL::integer,
                        NULL::integer, NULL::uuid, NULL::jsonb, NULL::timestamptz, NULL::boolean, greatest(v_retry_ms, 1);
  END IF;
END
$fn$;

-- The candidate scan must walk a claim index in order and stop at LIMIT. Without statistics
-- (a new or truncated table) the planner would rather sort every READY row, which is orders
-- of magnitude slower with a backlog; sorting inside the function is only ever small.
-- Disabling sorts inflates plan costs past jit_above_cost, and JIT-compiling each of the
-- function's statements would cost far more than running them: no JIT here.
ALTER FUNCTION ${s}.claim_runs(text, integer, bigint, text[], text[]) SET enable_sort = off;
ALTER FUNCTION ${s}.claim_runs(text, integer, bigint, text[], text[]) SET jit = off;

-- Claim order across several queues (priority, run_after, id): an index scan in that order
-- reads only the rows a batch takes, instead of sorting every READY row of the queues.
CREATE INDEX task_runs_claim_order_idx ON ${s}.task_runs (priority DESC, run_after, result_id)
  WHERE status = 'READY';

COMMENT ON TABLE ${s}.rate_limits IS 'Token buckets: key global, queue:<name> or task:<name>; rate 0 = off.';
`;
}

export const migration0002: Migration = { version: 2, name: "flow_control", up };
