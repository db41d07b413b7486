/**
 * Migration 5: the worker's fast path. Claims skip the key and bucket machinery when no
 * candidate has a key and no rate limit is active, and report per run whether it holds a
 * key; one settle_runs() call writes a whole batch of outcomes (successes, retries,
 * failures, cancellations, releases) and sends their finish notifications from the same
 * statement instead of one trigger call per run; spec_hash's format is checked by a domain
 * on assignment instead of a table CHECK evaluated on every update.
 */
import { quoteIdent } from "../../db/names.js";
import type { Migration } from "./types.js";

const FINAL = "'SUCCESSFUL','FAILED','CANCELLED','EXPIRED'";

/**
 * The CREATE FUNCTION statement of claim_runs() as this migration defines it. A later migration
 * that changes one thing in it passes what changed: `refillCap`, the most tokens a bucket holds
 * after a refill (`rl` is the rate_limits row); `countSlots`, claims count key slots per batch
 * (migration 8); `claimsWaitForCounters` false, a claim never waits for a key counter's lock
 * (migration 12).
 */
export function claimRunsDefinition(
  schema: string,
  refillCap: string,
  countSlots = false,
  claimsWaitForCounters = true,
): string {
  const s = quoteIdent(schema);
  // Runs a claim may take (r = task_runs): READY, due, unexpired, in a served and unpaused queue,
  // keys not saturated. Shared by the one-statement fast path and the rounds of claim_runs().
  const claimable = `r.status = 'READY'
           AND (r.queue_name = ANY(v_names) OR r.queue_name LIKE ANY(p_patterns))
           AND r.run_after <= now()
           AND (r.expires_at IS NULL OR r.expires_at > now())
           AND NOT EXISTS (SELECT 1 FROM ${s}.queue_controls qc WHERE qc.queue_name = r.queue_name AND qc.paused)
           AND (r.lock_key IS NULL OR NOT EXISTS (
                 SELECT 1 FROM ${s}.concurrency_slots cs WHERE cs.key = 'l:' || r.lock_key AND cs.running >= 1))
           AND (r.concurrency_key IS NULL OR r.concurrency_limit = 0 OR NOT EXISTS (
                 SELECT 1 FROM ${s}.concurrency_slots cs
                  WHERE cs.key = 'c:' || r.concurrency_key AND cs.running >= r.concurrency_limit))
          `.trim();
  // The run holds a lock key or a limited concurrency key.
  const keyed = "(r.lock_key IS NOT NULL OR (r.concurrency_key IS NOT NULL AND r.concurrency_limit > 0))";
  // What a claim writes to each run (r) it takes, and the row it returns, in both paths below.
  const claimSet = `status = 'RUNNING', attempts = r.attempts + 1, started_at = coalesce(r.started_at, now()),
             last_attempted_at = now(), leased_by = p_worker,
             leased_until = now() + p_lease_ms * interval '1 millisecond',
             lease_token = gen_random_uuid(), worker_ids = array_append(r.worker_ids, p_worker), updated_at = now()`;
  const claimReturning = `r.result_id, r.task_path, r.queue_name, r.priority, r.run_after, r.spec_json -> 'args', r.attempts,
             r.max_attempts, r.timeout_seconds, r.lease_token, nullif(r.metadata_json, '{}'), r.cancel_requested,
             ${keyed}, NULL::bigint`;
  return `CREATE FUNCTION ${s}.claim_runs(p_worker text, p_limit integer, p_lease_ms bigint, p_names text[], p_patterns text[])
RETURNS TABLE (result_id bigint, task_path text, queue_name text, priority integer, run_after timestamptz,
               args jsonb, attempts integer, max_attempts integer, timeout_seconds integer, lease_token uuid,
               metadata_json jsonb, cancel_requested boolean, keyed boolean,
               retry_after_ms bigint)
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
  v_keyed boolean;${claimsWaitForCounters ? "" : "\n  v_contended boolean := false;"}
BEGIN
  IF p_limit <= 0 THEN RETURN; END IF;
  -- A claim need not wait for its WAL flush: one lost in a server crash leaves its runs READY, and
  -- a worker that already started them finds its lease gone when it settles (at-least-once).
  -- Settles flush the log up to their own commit, claims included, so a result is never lost.
  PERFORM set_config('synchronous_commit', 'off', true);
  SELECT EXISTS (SELECT 1 FROM ${s}.rate_limits WHERE tokens_per_second > 0) INTO v_limited;
  IF v_limited THEN
    -- Refill every active bucket, lock them in key order, and note which ones are empty.
    PERFORM 1 FROM ${s}.rate_limits WHERE tokens_per_second > 0 ORDER BY key FOR UPDATE;
    -- Refill against the clock read now that the buckets are locked, not now() (the start of this
    -- transaction): a claim that waited for the lock must not see a refill time in its future.
    v_clock := clock_timestamp();
    UPDATE ${s}.rate_limits rl
       SET current_tokens = least(${refillCap},
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

  IF NOT v_limited THEN
    -- Fast path, one statement, when no rate limit is active: claim the first candidates unless
    -- one of them holds a key. Then nothing is claimed here and the rounds below do the key
    -- accounting; the candidates stay locked by this transaction, so those rounds find them again.
    RETURN QUERY
      WITH cand AS MATERIALIZED (
        SELECT r.result_id, ${keyed} AS keyed
          FROM ${s}.task_runs r
         WHERE ${claimable}
         ORDER BY r.priority DESC, r.run_after, r.result_id
         LIMIT p_limit
         FOR UPDATE SKIP LOCKED
      )
      UPDATE ${s}.task_runs r
         SET ${claimSet}
       -- = ANY(ARRAY(...)), not a join to cand: with statistics taken before a TRUNCATE or a burst,
       -- the planner hash-joined cand to a sequential scan of the whole table (finished runs
       -- included) on every claim; an id array always goes through the primary key.
       WHERE r.result_id = ANY(ARRAY(SELECT c.result_id FROM cand c))
         AND NOT EXISTS (SELECT 1 FROM cand k WHERE k.keyed)
   RETURNING ${claimReturning};
    IF FOUND THEN RETURN; END IF;
  END IF;

  WHILE v_taken < p_limit AND v_round < 3 LOOP
    v_round := v_round + 1;
    -- The first round takes exactly what is wanted (the common, unconstrained case);
    -- later rounds look further to get past candidates held back by their keys or buckets.
    v_want := CASE WHEN v_round = 1 THEN p_limit - v_taken ELSE (p_limit - v_taken) * 4 END;
    SELECT array_agg(c.result_id ORDER BY c.priority DESC, c.run_after, c.result_id), coalesce(bool_or(c.keyed), false)
      INTO v_ids, v_keyed
      FROM (
        SELECT r.result_id, r.priority, r.run_after,
               ${keyed} AS keyed
          FROM ${s}.task_runs r
         WHERE ${claimable}
           AND r.result_id <> ALL(v_seen)
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

    IF NOT v_keyed AND NOT v_limited THEN
      -- Fast path: no candidate has a key and no rate limit is active, so every candidate is
      -- admitted as fetched; nothing else to lock or rank.
      v_admitted := v_ids;
    ELSE
      -- Lock the counter of every key involved. The first round creates missing counters and
      -- locks them all in key order, in one statement, so claims and completions (which also lock
      -- in key order) never deadlock. Later rounds already hold locks, so they never wait: they
      -- skip counters someone else holds and admit only runs whose counters they hold.
      SELECT coalesce(array_agg(k ORDER BY k), '{}') INTO v_keys FROM (
        SELECT 'l:' || r.lock_key AS k FROM ${s}.task_runs r WHERE r.result_id = ANY(v_ids) AND r.lock_key IS NOT NULL
        UNION
        SELECT 'c:' || r.concurrency_key FROM ${s}.task_runs r
         WHERE r.result_id = ANY(v_ids) AND r.concurrency_key IS NOT NULL AND r.concurrency_limit > 0) keys;
      ${
        claimsWaitForCounters
          ? `IF v_round = 1 THEN
        INSERT INTO ${s}.concurrency_slots AS cs (key)
        SELECT k FROM unnest(v_keys) AS u(k) ORDER BY k
        ON CONFLICT (key) DO UPDATE SET updated_at = cs.updated_at;
        v_locked := v_keys;
      ELSE
        SELECT v_locked || coalesce(array_agg(l.key ORDER BY l.key), '{}') INTO v_locked
          FROM (SELECT cs.key FROM ${s}.concurrency_slots cs
                 WHERE cs.key = ANY(v_keys) AND cs.key <> ALL(v_locked)
                   FOR UPDATE SKIP LOCKED) l;
      END IF;`
          : `-- Counters that do not exist yet are created in key order, in the first round only (an
      -- insert waits only for another claim creating the same counter, never for a settle, and two
      -- claims that each inserted in one key-ordered statement cannot wait on each other; a later
      -- round leaves runs of missing counters to the next claim); then every counter is locked
      -- without waiting. A claim holds locks on its candidates (and, after a concurrent claim took a
      -- candidate first, on runs it then passed over, which a settle may be waiting for): were it
      -- to wait for a counter a settle holds, the two would deadlock. Runs of counters held
      -- elsewhere are not admitted; the claim says so (retry_after_ms 0) and the worker claims again.
      IF v_round = 1 THEN
        INSERT INTO ${s}.concurrency_slots AS cs (key)
        SELECT u.k FROM unnest(v_keys) AS u(k)
         WHERE NOT EXISTS (SELECT 1 FROM ${s}.concurrency_slots e WHERE e.key = u.k)
         ORDER BY u.k
        ON CONFLICT (key) DO NOTHING;
      END IF;
      SELECT v_locked || coalesce(array_agg(l.key ORDER BY l.key), '{}') INTO v_locked
          FROM (SELECT cs.key FROM ${s}.concurrency_slots cs
                 WHERE cs.key = ANY(v_keys) AND cs.key <> ALL(v_locked)
                   FOR UPDATE SKIP LOCKED) l;
      IF EXISTS (SELECT 1 FROM unnest(v_keys) AS u(k) WHERE u.k <> ALL(v_locked)) THEN v_contended := true; END IF;`
      }

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
    END IF;

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
      -- Rows come back in storage order; run_after lets the caller restore claim order without a
      -- sort here (sorts are disabled in this function, see below).
${countSlots ? slotsCounted("on", "      ") : ""}      RETURN QUERY
        UPDATE ${s}.task_runs r
           SET ${claimSet}
         WHERE r.result_id = ANY(v_admitted)
     RETURNING ${claimReturning};
${
  countSlots
    ? `      IF v_keyed THEN
${countClaimedSlots(s)}      END IF;
${slotsCounted("off", "      ")}`
    : ""
}    END IF;
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
${
  claimsWaitForCounters
    ? ""
    : `  -- Runs were left out because another transaction held their counters: claim again at once.
  IF v_contended AND v_taken < p_limit THEN v_retry_ms := 0;
  ELSIF v_retry_ms IS NOT NULL THEN v_retry_ms := greatest(v_retry_ms, 1);
  END IF;
`
}  IF v_retry_ms IS NOT NULL THEN
    RETURN QUERY SELECT NULL::bigint, NULL::text, NULL::text, NULL::integer, NULL::timestamptz, NULL::jsonb,
                        NULL::integer, NULL::integer, NULL::integer, NULL::uuid, NULL::jsonb,
                        NULL::boolean, NULL::boolean, ${claimsWaitForCounters ? "greatest(v_retry_ms, 1)" : "v_retry_ms"};
  END IF;
END
$fn$;`;
}

/**
 * settle_runs()'s first step when some run of the batch holds a key: lock the batch's key
 * counters in key order, as claims lock them, so claims and settles never deadlock.
 */
export function lockSettledSlots(s: string): string {
  return `    PERFORM 1 FROM ${s}.concurrency_slots cs
     WHERE cs.key IN (
       SELECT 'c:' || k.concurrency_key FROM ${s}.task_runs k
        WHERE k.result_id = ANY(p_ids) AND k.concurrency_key IS NOT NULL AND k.concurrency_limit > 0
       UNION
       SELECT 'l:' || k.lock_key FROM ${s}.task_runs k WHERE k.result_id = ANY(p_ids) AND k.lock_key IS NOT NULL)
     ORDER BY cs.key FOR UPDATE OF cs;`;
}

/** settle_runs()'s UPDATE of the batch's runs, fenced by lease token, without its RETURNING list. */
export function settleUpdate(s: string): string {
  return `    UPDATE ${s}.task_runs r
       SET status = u.status,
           attempts = r.attempts - u.refund,
           run_after = CASE WHEN u.status = 'READY' THEN now() + u.delay_ms * interval '1 millisecond' ELSE r.run_after END,
           finished_at = CASE WHEN u.status = 'READY' THEN NULL ELSE now() END,
           return_json = CASE WHEN u.status = 'SUCCESSFUL' THEN u.ret::jsonb ELSE r.return_json END,
           errors_json = CASE WHEN u.err IS NULL THEN r.errors_json ELSE r.errors_json || jsonb_build_array(u.err::jsonb) END,
           last_error = CASE WHEN u.status = 'SUCCESSFUL' THEN NULL ELSE coalesce(u.last_error, r.last_error) END,
           metadata_json = coalesce(u.meta::jsonb, r.metadata_json), logs_uri = coalesce(u.logs, r.logs_uri),
           leased_by = NULL, leased_until = NULL, lease_token = NULL, updated_at = now()
      FROM unnest(p_ids, p_tokens, p_status, p_refund, p_delay_ms, p_return, p_error, p_last_error, p_meta, p_logs)
           AS u(id, token, status, refund, delay_ms, ret, err, last_error, meta, logs)
     WHERE r.result_id = ANY(p_ids) AND r.result_id = u.id AND r.lease_token = u.token
       AND coalesce(r.status, '') = 'RUNNING'`;
}

/**
 * The CREATE FUNCTION statement of settle_runs() as this migration defines it; with `countSlots`
 * (a later migration), it also keeps the key counters of the runs it settles, as claimRunsDefinition
 * does for the runs it claims.
 */
export function settleRunsDefinition(schema: string, countSlots = false): string {
  const s = quoteIdent(schema);
  const lit = (text: string) => `'${text.replaceAll("'", "''")}'`;
  return `CREATE FUNCTION ${s}.settle_runs(p_ids bigint[], p_tokens uuid[], p_status text[], p_refund integer[],
                                 p_delay_ms bigint[], p_return text[], p_error text[], p_last_error text[],
                                 p_meta text[], p_logs text[], p_keyed boolean)
RETURNS TABLE (result_id bigint, status text)
LANGUAGE plpgsql AS $fn$
BEGIN
  IF p_keyed THEN
${lockSettledSlots(s)}
${countSlots ? slotsCounted("on", "    ") : ""}  END IF;
  -- This statement notifies waiters itself (below): the per-row trigger stands down for the
  -- rows it updates directly (trigger depth 0), not for rows cascading triggers change.
  PERFORM set_config('reproq.finish_notified', 'on', true);
  -- result_id = ANY(p_ids) keeps the plan on the primary key even when statistics say the table is
  -- empty. The status test is written so that it does not match task_runs_lease_idx's predicate:
  -- with statistics taken while nothing ran, the planner otherwise walks every RUNNING run through
  -- that index (all of every worker's running and buffered runs) for each batch.
  RETURN QUERY
  WITH done AS (
${settleUpdate(s)}
    RETURNING r.result_id, r.status${countSlots ? ", r.concurrency_key, r.concurrency_limit, r.lock_key" : ""}
  ), told AS (
    SELECT count(pg_notify(${lit(`${schema}.finished`)}, d.result_id::text || ':' || d.status)) AS n
      FROM done d WHERE d.status IN (${FINAL})
  )${countSlots ? freeSettledSlots(schema) : ""}
  SELECT d.result_id, d.status FROM done d, told${countSlots ? ", woke" : ""};
  PERFORM set_config('reproq.finish_notified', 'off', true);
${countSlots ? slotsCounted("off", "  ") : ""}END
$fn$;`;
}

/**
 * With `countSlots`, claims and settles count their own runs' key slots, one statement per batch,
 * and the per-row track_slots trigger stands down for the rows they update directly (a later
 * migration makes its WHEN test this setting, as the finish notification's trigger tests
 * reproq.finish_notified).
 */
function slotsCounted(value: "on" | "off", indent: string): string {
  return `${indent}PERFORM set_config('reproq.slots_counted', '${value}', true);\n`;
}

/** Adds the runs just claimed (v_admitted) to their keys' counters, locked by this claim already. */
function countClaimedSlots(s: string): string {
  return `        UPDATE ${s}.concurrency_slots cs SET running = cs.running + c.n, updated_at = now()
          FROM (SELECT 'c:' || r.concurrency_key AS k, count(*)::integer AS n FROM ${s}.task_runs r
                 WHERE r.result_id = ANY(v_admitted) AND r.concurrency_key IS NOT NULL AND r.concurrency_limit > 0
                 GROUP BY 1
                UNION ALL
                SELECT 'l:' || r.lock_key, count(*)::integer FROM ${s}.task_runs r
                 WHERE r.result_id = ANY(v_admitted) AND r.lock_key IS NOT NULL GROUP BY 1) c
         WHERE cs.key = c.k;
`;
}

/**
 * CTEs for settle_runs(): take the settled runs (done, all of them leaving RUNNING) off their
 * keys' counters, locked at the start of the call, and wake the workers once if a key was freed.
 */
function freeSettledSlots(schema: string): string {
  const s = quoteIdent(schema);
  const wake = `'${`${schema}.enqueued`.replaceAll("'", "''")}'`;
  return `, freed AS (
    UPDATE ${s}.concurrency_slots cs SET running = greatest(cs.running - f.n, 0), updated_at = now()
      FROM (SELECT 'c:' || d.concurrency_key AS k, count(*)::integer AS n FROM done d
             WHERE p_keyed AND d.concurrency_key IS NOT NULL AND d.concurrency_limit > 0 GROUP BY 1
            UNION ALL
            SELECT 'l:' || d.lock_key, count(*)::integer FROM done d
             WHERE p_keyed AND d.lock_key IS NOT NULL GROUP BY 1) f
     WHERE cs.key = f.k
    RETURNING cs.key
  ), woke AS (
    SELECT count(pg_notify(${wake}, '{"*":0}')) AS n FROM (SELECT 1 FROM freed LIMIT 1) x
  )`;
}

function up(schema: string): string {
  const s = quoteIdent(schema);
  return `
DROP FUNCTION ${s}.claim_runs(text, integer, bigint, text[], text[]);

/*
 * As in migration 2, plus: a first round whose candidates have no key, with no rate limit
 * active, admits them as fetched; each returned run says whether it holds a key (keyed), so
 * the worker knows whether settling it must lock key counters; run_after is returned so the
 * caller can put a batch in claim order (priority DESC, run_after, result_id); metadata_json is
 * NULL when empty and enqueued_at is not returned (a worker buffers up to a thousand claimed
 * rows: fewer objects per row keep its heap small).
 */
${claimRunsDefinition(schema, "rl.burst_size::double precision")}

-- The candidate scan must walk a claim index in order and stop at LIMIT. Without statistics
-- (a new or truncated table) the planner would rather sort every READY row, which is orders
-- of magnitude slower with a backlog; sorting inside the function is only ever small.
-- Disabling sorts inflates plan costs past jit_above_cost, and JIT-compiling each of the
-- function's statements would cost far more than running them: no JIT here.

ALTER FUNCTION ${s}.claim_runs(text, integer, bigint, text[], text[]) SET enable_sort = off;
ALTER FUNCTION ${s}.claim_runs(text, integer, bigint, text[], text[]) SET jit = off;

/*
 * Settles a batch of attempts held by the caller (fenced by lease_token; runs no longer held
 * are skipped and not returned). p_status per run: SUCCESSFUL, FAILED, CANCELLED, or READY
 * (retry, snooze or release after p_delay_ms; p_refund = 1 gives the attempt back).
 * p_error is appended to errors_json; p_meta and p_logs replace the stored values when not
 * NULL. p_keyed: some run holds a key, so the key counters are locked first, in key order,
 * as claims lock them (no deadlock between claims and settles).
 */
${settleRunsDefinition(schema)}
ALTER FUNCTION ${s}.settle_runs(bigint[], uuid[], text[], integer[], bigint[], text[], text[], text[], text[], text[], boolean)
  SET jit = off;
-- PL/pgSQL switches to a generic plan after five calls. For this UPDATE that plan cannot see the
-- batch size and joined through every RUNNING run (8x slower per batch when measured), so plan
-- each call (about 0.3 ms, small next to a batch).
ALTER FUNCTION ${s}.settle_runs(bigint[], uuid[], text[], integer[], bigint[], text[], text[], text[], text[], text[], boolean)
  SET plan_cache_mode = force_custom_plan;

-- spec_hash's format check moves from a table CHECK to a domain. PostgreSQL evaluates every CHECK
-- of a table on every UPDATE of a row, and the regex alone cost about 7 us per update (two per
-- attempt: claim and settle); a domain's check runs only when a value is assigned. Domain first
-- without its check (so the column's type change needs no table rewrite), then the check, then one
-- validating scan. length() and ltrim() check the same format as the regex, for less.
CREATE DOMAIN ${s}.sha256_hex AS char(64);
COMMENT ON DOMAIN ${s}.sha256_hex IS 'A SHA-256 digest in lowercase hex (64 characters).';
ALTER TABLE ${s}.task_runs DROP CONSTRAINT task_runs_spec_hash_check;
ALTER TABLE ${s}.task_runs ALTER COLUMN spec_hash TYPE ${s}.sha256_hex;
ALTER DOMAIN ${s}.sha256_hex ADD CONSTRAINT sha256_hex_format
  CHECK (length(VALUE) = 64 AND ltrim(VALUE, '0123456789abcdef') = '') NOT VALID;
ALTER DOMAIN ${s}.sha256_hex VALIDATE CONSTRAINT sha256_hex_format;

DROP TRIGGER task_runs_notify_finished ON ${s}.task_runs;
CREATE TRIGGER task_runs_notify_finished AFTER UPDATE OF status ON ${s}.task_runs
  FOR EACH ROW WHEN (NEW.status IN (${FINAL}) AND OLD.status IS DISTINCT FROM NEW.status
                     AND (pg_trigger_depth() > 0
                          OR current_setting('reproq.finish_notified', true) IS DISTINCT FROM 'on'))
  EXECUTE FUNCTION ${s}.notify_finished();
`;
}

export const migration0005: Migration = { version: 5, name: "worker_fast_path", up };
