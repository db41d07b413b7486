/**
 * Run ids for operations that were handed a database (a pool and a schema) rather than
 * choosing one: "42" and "default:42" name a run there; any other alias names a database
 * this caller did not connect to, and is refused rather than looked up in the wrong place.
 */
import { InvalidInputError } from "../errors.js";
import { parseRunId, type RunIdInput } from "../ids.js";

const DEFAULT_ALIAS = "default";

/** The numeric result_id of `id`, or InvalidInputError when it is malformed or names another database. */
export function resultIdIn(id: RunIdInput): string {
  const parsed = parseRunId(id);
  if (parsed.alias !== null && parsed.alias !== DEFAULT_ALIAS) {
    throw new InvalidInputError(
      `run id "${String(id)}" names database "${parsed.alias}"; only the "${DEFAULT_ALIAS}" database is configured here`,
    );
  }
  if (BigInt(parsed.resultId) > MAX_RESULT_ID) {
    throw new InvalidInputError(
      `run id "${String(id)}" is out of range; run ids are at most ${MAX_RESULT_ID}`,
    );
  }
  return parsed.resultId;
}

/** The largest result_id a run can have (bigint). */
export const MAX_RESULT_ID = 9223372036854775807n;
