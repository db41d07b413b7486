/** A versioned schema migration; `up` returns the SQL for a given (validated) schema name. */
export interface Migration {
  version: number;
  name: string;
  up(schema: string): string;
}
