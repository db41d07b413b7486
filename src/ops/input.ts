/**
 * Checks of the plain inputs operator functions share (limits, batch sizes, name filters), so the
 * CLI, the HTTP API and a dashboard get the same one-line errors.
 */
import { InvalidInputError } from "../errors.js";

/** A whole number of at least 1 (and at most `max` when given), or an InvalidInputError naming `what`. */
export function wholeNumber(value: number, what: string, max?: number): number {
  if (!Number.isSafeInteger(value) || value < 1 || (max !== undefined && value > max)) {
    throw new InvalidInputError(
      max === undefined
        ? `${what} must be a whole number >= 1, got ${String(value)}`
        : `${what} must be a whole number from 1 to ${max}, got ${String(value)}`,
    );
  }
  return value;
}

/** A trimmed name filter, or null when absent; an empty one is an InvalidInputError. */
export function optionalName(value: string | undefined, what: string): string | null {
  if (value === undefined) return null;
  const trimmed = value.trim();
  if (trimmed === "") throw new InvalidInputError(`${what} must not be empty`);
  return trimmed;
}
