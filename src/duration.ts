/**
 * The one duration parser. In code a number is milliseconds and a string carries a unit;
 * on the command line a unit is always required (`parseDuration(v, { requireUnit: true })`).
 */
import { InvalidInputError } from "./errors.js";

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

const PATTERN = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)$/;

export type Duration = number | string;

export interface ParseDurationOptions {
  /** Name used in error messages, e.g. "runAfter" or "--older-than". */
  name?: string;
  /** Reject bare numbers (the CLI always wants a unit). */
  requireUnit?: boolean;
}

/** Parses "500ms", "30s", "10m", "2h", "7d", "1w" or a number of milliseconds into milliseconds. */
export function parseDuration(value: Duration, options: ParseDurationOptions = {}): number {
  const name = options.name ?? "duration";
  if (typeof value === "number") {
    if (options.requireUnit) {
      throw new InvalidInputError(`${name}: "${value}" has no unit; write it like 500ms, 30s, 10m, 2h or 7d`);
    }
    if (!Number.isFinite(value) || value < 0) {
      throw new InvalidInputError(
        `${name}: ${value} is not a valid duration; give a number of milliseconds >= 0`,
      );
    }
    return value;
  }
  if (typeof value !== "string") {
    throw new InvalidInputError(`${name}: expected a duration such as "30s" or a number of milliseconds`);
  }
  const text = value.trim();
  const match = PATTERN.exec(text);
  if (!match) {
    if (/^\d+(?:\.\d+)?$/.test(text)) {
      if (options.requireUnit) {
        throw new InvalidInputError(
          `${name}: "${value}" has no unit; write it like 500ms, 30s, 10m, 2h or 7d`,
        );
      }
      return Number(text);
    }
    throw new InvalidInputError(
      `${name}: "${value}" is not a duration; use a number with a unit: ms, s, m, h, d or w (e.g. "10m")`,
    );
  }
  return Number(match[1]) * (UNIT_MS[match[2]!] as number);
}
