// The migrated task_runs' own definitions, read from the catalog so a spike's copies follow every
// migration: its secondary indexes (by short name: "lease" for task_runs_lease_idx) rewritten for a
// copy named `copy`, its AFTER UPDATE triggers, and its fillfactor.

/**
 * `table` is the shipped table ("reproq".task_runs), `copy` the copy's qualified name, `prefix` what
 * the copy's index names start with.
 */
export async function shippedDefinitions(sql, table, copy, prefix) {
  const { shown } = (await sql.query("SELECT $1::regclass::text AS shown", [table])).rows[0];
  const onCopy = (def) => {
    if (!def.includes(` ON ${shown} `)) throw new Error(`unexpected definition: ${def}`);
    return def.replace(` ON ${shown} `, ` ON ${copy} `);
  };
  const indexes = Object.fromEntries(
    (
      await sql.query(
        `SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS def
           FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
          WHERE i.indrelid = $1::regclass AND NOT i.indisprimary`,
        [table],
      )
    ).rows.map(({ name, def }) => [
      name.replace(/^task_runs_/, "").replace(/_idx$/, ""),
      onCopy(def).replace(`INDEX ${name} `, `INDEX ${prefix}${name} `),
    ]),
  );
  const triggers = (
    await sql.query(
      `SELECT pg_get_triggerdef(oid) AS def FROM pg_trigger
        WHERE tgrelid = $1::regclass AND NOT tgisinternal AND pg_get_triggerdef(oid) LIKE '%AFTER UPDATE%'`,
      [table],
    )
  ).rows.map(({ def }) => onCopy(def));
  const fillfactor = Number(
    (
      await sql.query(
        `SELECT coalesce(substring(array_to_string(reloptions, ',') FROM 'fillfactor=([0-9]+)'), '100') AS f
           FROM pg_class WHERE oid = $1::regclass`,
        [table],
      )
    ).rows[0].f,
  );
  return { indexes, triggers, fillfactor };
}
