/**
 * Names derived from the configured schema: quoted identifiers, NOTIFY channels and
 * advisory-lock keys. Channels and lock keys include the schema so that two installations
 * in one database never hear each other or block each other.
 */
import { createHash } from "node:crypto";
import { ConfigError } from "../errors.js";
import { type Queryable, usesPreparedStatements } from "./pool.js";

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

export function assertSchemaName(schema: string): string {
  if (!IDENTIFIER.test(schema)) {
    throw new ConfigError(
      `schema "${schema}" is not a valid schema name; use lower-case letters, digits and _ (at most 63 characters)`,
    );
  }
  return schema;
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** `"schema"."table"` */
export function qualify(schema: string, table: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(table)}`;
}

export type ChannelKind = "enqueued" | "finished" | "cancel";

/** NOTIFY channel, e.g. `reproq.enqueued` for the default schema. */
export function channelName(schema: string, kind: ChannelKind): string {
  return `${schema}.${kind}`;
}

export type LockPurpose = "migrate" | "maintenance" | "scheduler";

/** A signed 64-bit advisory-lock key (as a decimal string) for this schema and purpose. */
export function advisoryKey(schema: string, purpose: LockPurpose): string {
  const digest = createHash("sha256").update(`reproq:${schema}:${purpose}`).digest();
  return digest.readBigInt64BE(0).toString();
}

const statements = new Map<string, { name: string; text: string }>();

/**
 * A prepared statement for `schema`: its name and its text, built once per process (they sit on
 * the enqueue and claim paths); the text alone where `db` has them off (disablePreparedStatements).
 * PostgreSQL truncates names to 63 bytes, so the schema enters the name as a short digest: two
 * schemas never share a name.
 */
export function preparedStatement(
  db: Queryable,
  kind: string,
  schema: string,
  text: (schema: string) => string,
): { name?: string; text: string } {
  const key = `${kind}\u0000${schema}`;
  let statement = statements.get(key);
  if (!statement) {
    const digest = createHash("sha256").update(schema).digest("hex").slice(0, 16);
    statement = { name: `reproq_${kind}_${digest}`, text: text(schema) };
    statements.set(key, statement);
  }
  // Unnamed (preparedStatements off): parsed and planned on every call, but nothing is left on
  // the connection for a pooler to lose.
  return usesPreparedStatements(db) ? statement : { text: statement.text };
}
