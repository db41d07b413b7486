/**
 * The TUI pairing codes in tui_pairings (migration 14). Every state change is one conditional
 * UPDATE, so two processes (or two polls) cannot both settle a code or both pick up its token.
 */
import { qualify } from "../db/names.js";
import type { Queryable } from "../db/pool.js";

export type PairStatus = "pending" | "approved" | "denied" | "consumed";
export type PairScope = "read" | "admin";

/** Deletes expired codes, then inserts `code`: its expiry, or why not (`max` live codes exist, or the code is taken). */
export async function insertPairing(
  db: Queryable,
  schema: string,
  code: string,
  ttlMs: number,
  max: number,
): Promise<{ expiresAt: Date } | "full" | "taken"> {
  const table = qualify(schema, "tui_pairings");
  await db.query(`DELETE FROM ${table} WHERE expires_at <= now()`);
  const { rows } = await db.query<{ expires_at: Date | null; live: number }>(
    `WITH live AS (SELECT count(*)::int AS n FROM ${table}),
          made AS (
            INSERT INTO ${table} (code, expires_at)
            SELECT $1, now() + $2::float8 * interval '1 millisecond' FROM live WHERE live.n < $3::int
            ON CONFLICT (code) DO NOTHING
            RETURNING expires_at)
     SELECT (SELECT expires_at FROM made) AS expires_at, (SELECT n FROM live) AS live`,
    [code, ttlMs, max],
  );
  const row = rows[0];
  if (row?.expires_at) return { expiresAt: row.expires_at };
  return (row?.live ?? 0) >= max ? "full" : "taken";
}

/** A live code's status, or undefined when unknown or expired. */
export async function selectPairingStatus(
  db: Queryable,
  schema: string,
  code: string,
): Promise<PairStatus | undefined> {
  const { rows } = await db.query<{ status: PairStatus }>(
    `SELECT status FROM ${qualify(schema, "tui_pairings")} WHERE code = $1 AND expires_at > now()`,
    [code],
  );
  return rows[0]?.status;
}

/** Settles a live pending code (approved with a scope, or denied); false when it is not one. */
export async function settlePairing(
  db: Queryable,
  schema: string,
  code: string,
  outcome: PairScope | "denied",
): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE ${qualify(schema, "tui_pairings")}
        SET status = CASE WHEN $2::text = 'denied' THEN 'denied' ELSE 'approved' END,
            scope = CASE WHEN $2::text = 'denied' THEN NULL ELSE $2::text END
      WHERE code = $1 AND status = 'pending' AND expires_at > now()`,
    [code, outcome],
  );
  return rowCount === 1;
}

/**
 * The poll: an approved code turns consumed and answers its scope (the caller issues the token,
 * once); any other live code answers its status; unknown or expired, "expired".
 */
export async function consumePairing(
  db: Queryable,
  schema: string,
  code: string,
): Promise<
  { status: "approved"; scope: PairScope } | { status: "pending" | "denied" | "consumed" | "expired" }
> {
  const table = qualify(schema, "tui_pairings");
  const { rows } = await db.query<{ status: PairStatus; scope: PairScope | null; taken: boolean }>(
    `WITH taken AS (
       UPDATE ${table} SET status = 'consumed'
        WHERE code = $1 AND status = 'approved' AND expires_at > now()
        RETURNING scope)
     SELECT 'approved' AS status, scope, true AS taken FROM taken
     UNION ALL
     SELECT status, scope, false FROM ${table}
      WHERE code = $1 AND expires_at > now() AND NOT EXISTS (SELECT 1 FROM taken)`,
    [code],
  );
  const row = rows[0];
  if (!row) return { status: "expired" };
  if (row.taken && row.scope) return { status: "approved", scope: row.scope };
  // Approved but not taken by this statement: another poll took it in between.
  return { status: row.status === "approved" ? "consumed" : row.status };
}
