/**
 * Run ids. Public ids are strings: "123", or "alias:123" once runs live in several databases.
 * Inputs accept a number, a bigint or such a string.
 */
import { InvalidInputError } from "./errors.js";

export type RunIdInput = string | number | bigint;

export interface ParsedRunId {
  alias: string | null;
  /** The numeric result_id as a decimal string. */
  resultId: string;
}

const PATTERN = /^(?:([A-Za-z0-9_-]+):)?([1-9][0-9]{0,18})$/;

export function parseRunId(id: RunIdInput): ParsedRunId {
  if (typeof id === "number") {
    if (!Number.isSafeInteger(id) || id < 1) {
      throw new InvalidInputError(`run id ${id} is not valid; ids are positive integers such as 42 or "42"`);
    }
    return { alias: null, resultId: String(id) };
  }
  if (typeof id === "bigint") {
    if (id < 1n || id > 9223372036854775807n) {
      throw new InvalidInputError(`run id ${id} is out of range; ids are positive 64-bit integers`);
    }
    return { alias: null, resultId: id.toString() };
  }
  const match = typeof id === "string" ? PATTERN.exec(id.trim()) : null;
  if (!match) {
    throw new InvalidInputError(
      `run id ${JSON.stringify(id)} is not valid; ids look like "42" (or "alias:42" with several databases)`,
    );
  }
  return { alias: match[1] ?? null, resultId: match[2]! };
}
