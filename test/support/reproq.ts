/** Helpers for tests of the public API against a per-file database. */
import { afterAll, beforeAll } from "vitest";
import { type ConfigureOptions, close, configure } from "../../src/index.js";
import { type TestDatabase, useTestDatabase } from "./db.js";

/** A migrated database for this file, configured as Reproq's default backend. */
export function useReproq(options: Omit<ConfigureOptions, "databaseUrl"> = {}): { db: TestDatabase } {
  const ctx = useTestDatabase();
  beforeAll(() => {
    configure({ databaseUrl: ctx.db.url, ...options });
  });
  afterAll(async () => {
    await close();
  });
  return ctx;
}
