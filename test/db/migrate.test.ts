import pg from "pg";
import { describe, expect, it } from "vitest";
import { createPool } from "../../src/db/pool.js";
import { SchemaError } from "../../src/errors.js";
import { assertSchemaCurrent, migrationStatus, runMigrations } from "../../src/sql/migrate.js";
import { LATEST_SCHEMA_VERSION } from "../../src/sql/migrations/index.js";
import { TASK_STATUSES } from "../../src/status.js";
import { useTestDatabase } from "../support/db.js";

const ctx = useTestDatabase({ empty: true });

describe("migrations", () => {
  it("reports everything pending on an empty database", async () => {
    const status = await migrationStatus(ctx.db.pool, "reproq");
    expect(status.current).toBe(0);
    expect(status.pending.length).toBe(LATEST_SCHEMA_VERSION);
    await expect(assertSchemaCurrent(ctx.db.pool, "reproq")).rejects.toBeInstanceOf(SchemaError);
  });

  it("applies once even when several processes migrate at the same time", async () => {
    const pools = Array.from({ length: 4 }, () => createPool({ url: ctx.db.url, max: 2 }));
    try {
      const results = await Promise.all(pools.map((p) => runMigrations(p, "reproq")));
      const appliedCounts = results.map((r) => r.applied.length).sort();
      expect(appliedCounts).toEqual([0, 0, 0, LATEST_SCHEMA_VERSION]);
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
    const rows = await ctx.db.pool.query("SELECT version FROM reproq.schema_migrations");
    expect(rows.rowCount).toBe(LATEST_SCHEMA_VERSION);
    await assertSchemaCurrent(ctx.db.pool, "reproq");
  });

  it("is idempotent", async () => {
    const pool = createPool({ url: ctx.db.url, max: 2 });
    try {
      const again = await runMigrations(pool, "reproq");
      expect(again.applied).toEqual([]);
    } finally {
      await pool.end();
    }
  });

  it("keeps two schemas in one database apart", async () => {
    const pool = createPool({ url: ctx.db.url, max: 2 });
    try {
      await runMigrations(pool, "tenant_b");
      const tables = await ctx.db.pool.query(
        "SELECT table_schema, count(*)::int AS n FROM information_schema.tables WHERE table_schema IN ('reproq','tenant_b') GROUP BY 1 ORDER BY 1",
      );
      expect(tables.rows).toEqual([
        { table_schema: "reproq", n: 9 },
        { table_schema: "tenant_b", n: 9 },
      ]);
    } finally {
      await pool.end();
    }
  });

  it("has a status CHECK constraint that agrees with the TypeScript union", async () => {
    const def = await ctx.db.pool.query<{ def: string }>(
      `SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint
        WHERE conrelid = 'reproq.task_runs'::regclass AND pg_get_constraintdef(oid) LIKE '%status = ANY%'`,
    );
    const listed = [...(def.rows[0]?.def.matchAll(/'([A-Z]+)'::text/g) ?? [])].map((m) => m[1]);
    expect(listed.sort()).toEqual([...TASK_STATUSES].sort());
  });

  it("accepts only lowercase 64-digit hex as spec_hash, whoever inserts the run", async () => {
    await runMigrations(ctx.db.pool, "reproq");
    const insert = (hash: string) =>
      ctx.db.pool.query(
        "INSERT INTO reproq.task_runs (spec_json, spec_hash, task_path) VALUES ('{}', $1, 'x')",
        [hash],
      );
    await insert("0123456789abcdef".repeat(4));
    const bad64 = ["g", "A", "-", " ", "é", "\\"].map((c) => `${"a".repeat(32)}${c}${"b".repeat(31)}`);
    for (const bad of ["abc", "g".repeat(64), "A".repeat(64), `${"a".repeat(63)} `, ...bad64]) {
      await expect(insert(bad), bad).rejects.toThrow(/sha256_hex_format/);
    }
  });

  it("refuses a database whose schema is newer than the package", async () => {
    await ctx.db.pool.query(
      "INSERT INTO reproq.schema_migrations (version, name, package_version) VALUES (9999, 'future', '99.0.0')",
    );
    try {
      await expect(assertSchemaCurrent(ctx.db.pool, "reproq")).rejects.toThrow(/newer than this package/);
      const pool = createPool({ url: ctx.db.url, max: 2 });
      await expect(runMigrations(pool, "reproq")).rejects.toThrow(/upgrade reproq/);
      await pool.end();
    } finally {
      await ctx.db.pool.query("DELETE FROM reproq.schema_migrations WHERE version = 9999");
    }
  });

  it("gives a connection error with a hint when the server is unreachable", async () => {
    const pool = new pg.Pool({ connectionString: "postgres://nobody@127.0.0.1:1/none", max: 1 });
    await expect(runMigrations(pool, "reproq")).rejects.toThrow(/cannot reach PostgreSQL/);
    await pool.end();
  });
});
