/**
 * The run spec: the identity of a task run, stored in task_runs.spec_json, and its spec_hash.
 * Two enqueues with the same spec are the same work. This shape and the hash are a contract shared
 * with SQL and other producers (test/vectors/spec-hash.json), so change them only with a new `v`.
 */
import { type Duration, parseDuration } from "../duration.js";
import { InvalidInputError } from "../errors.js";
import { canonicalJson, isWellFormed, sha256Hex } from "./canonical.js";
import { checkPayloadSize, encodeArgs, type JsonValue } from "./tagged.js";

export const SPEC_VERSION = 1;

/** Keys are snake_case, as stored. Provenance and execution settings are deliberately absent. */
export interface RunSpec {
  v: 1;
  /** Stable dotted task name. */
  task_path: string;
  /** Arguments encoded with encodeArgs. */
  args: JsonValue[];
  queue_name: string;
  priority: number;
  lock_key: string | null;
  concurrency_key: string | null;
  /** 0 = no limit. */
  concurrency_limit: number;
  /**
   * ISO-8601 UTC with milliseconds, only when the caller gave an absolute time (a Date).
   * A relative delay is null: "in 10 minutes" asks for the same work whenever it is enqueued.
   */
  run_after: string | null;
  /** Present only for workflow steps. */
  workflow?: { id: string; step: number };
}

export interface BuildSpecInput {
  taskPath: string;
  /** Raw argument values; they are encoded here with encodeArgs. Default []. */
  args?: readonly unknown[];
  /** Default "default". */
  queueName?: string;
  /** Default 0. */
  priority?: number;
  lockKey?: string | null;
  concurrencyKey?: string | null;
  /** Default 0 (no limit). */
  concurrencyLimit?: number;
  /** A Date is absolute and hashed; a Duration (ms or "10m") is relative and not hashed. */
  runAfter?: Date | Duration | null;
  workflow?: { id: string; step: number } | null;
  /** When set, the encoded args may not exceed this many bytes (PayloadError naming `args`). */
  maxPayloadBytes?: number;
}

/** Validates the input and builds the spec; throws InvalidInputError or PayloadError. */
export function buildSpec(input: BuildSpecInput): RunSpec {
  if (input === null || typeof input !== "object") {
    throw new InvalidInputError("buildSpec: expected an options object");
  }
  const args = encodeArgs(input.args ?? []);
  if (input.maxPayloadBytes !== undefined) checkPayloadSize(args, "args", input.maxPayloadBytes);

  const spec: RunSpec = {
    v: SPEC_VERSION,
    task_path: nonEmpty(input.taskPath, "taskPath"),
    args,
    queue_name: nonEmpty(input.queueName ?? "default", "queueName"),
    priority: integer(input.priority ?? 0, "priority", Number.MIN_SAFE_INTEGER),
    lock_key: optionalKey(input.lockKey, "lockKey"),
    concurrency_key: optionalKey(input.concurrencyKey, "concurrencyKey"),
    concurrency_limit: integer(input.concurrencyLimit ?? 0, "concurrencyLimit", 0),
    run_after: absoluteRunAfter(input.runAfter),
  };
  if (input.workflow != null) {
    spec.workflow = {
      id: nonEmpty(input.workflow.id, "workflow.id"),
      step: integer(input.workflow.step, "workflow.step", 0),
    };
  }
  return spec;
}

/** `hash` = lowercase hex SHA-256 of `canonical`, the RFC 8785 form of the spec. */
export function specHash(spec: RunSpec): { canonical: string; hash: string } {
  // An interface has no index signature, so it is not a JsonValue to the type checker;
  // canonicalJson checks at run time that every value really is JSON.
  const canonical = canonicalJson(spec as unknown as JsonValue);
  return { canonical, hash: sha256Hex(canonical) };
}

/** The spec fields other than `args`, already resolved (keys trimmed, runAfter absolute or null). */
export interface SpecTailInput {
  taskPath: string;
  queueName: string;
  priority: number;
  lockKey: string | null;
  concurrencyKey: string | null;
  concurrencyLimit: number;
  runAfter: Date | null;
  workflow: { id: string; step: number } | null;
}

/**
 * @internal The canonical text of a spec without its opening `{"args":<args>`, validated as buildSpec
 * validates the same fields, so `{"args":` + canonicalJson(args) + tail is specHash(buildSpec(...)).canonical
 * (test/canonical-fast-path.test.ts checks this). Undefined when a string has no canonical form (a lone
 * surrogate): the caller then takes the buildSpec path, which reports it.
 */
export function canonicalSpecTail(input: SpecTailInput): string | undefined {
  const taskPath = nonEmpty(input.taskPath, "taskPath");
  const queueName = nonEmpty(input.queueName, "queueName");
  const priority = integer(input.priority, "priority", Number.MIN_SAFE_INTEGER);
  const lockKey = optionalKey(input.lockKey, "lockKey");
  const concurrencyKey = optionalKey(input.concurrencyKey, "concurrencyKey");
  const concurrencyLimit = integer(input.concurrencyLimit, "concurrencyLimit", 0);
  const runAfter = absoluteRunAfter(input.runAfter);
  let workflow = "";
  if (input.workflow != null) {
    const id = nonEmpty(input.workflow.id, "workflow.id");
    const step = integer(input.workflow.step, "workflow.step", 0);
    const text = jsonString(id);
    if (text === undefined) return undefined;
    workflow = `,"workflow":{"id":${text},"step":${step}}`;
  }
  const strings = [concurrencyKey, lockKey, queueName, runAfter, taskPath].map(jsonString);
  if (strings.includes(undefined)) return undefined;
  const [ck, lk, q, ra, tp] = strings as string[];
  // Keys in UTF-16 order, as RFC 8785 sorts them; safe integers print the same as canonicalize().
  return `,"concurrency_key":${ck},"concurrency_limit":${concurrencyLimit},"lock_key":${lk},"priority":${priority},"queue_name":${q},"run_after":${ra},"task_path":${tp},"v":${SPEC_VERSION}${workflow}}`;
}

function jsonString(value: string | null): string | undefined {
  if (value === null) return "null";
  return isWellFormed(value) ? JSON.stringify(value) : undefined;
}

function absoluteRunAfter(runAfter: Date | Duration | null | undefined): string | null {
  if (runAfter === undefined || runAfter === null) return null;
  if (runAfter instanceof Date) {
    if (Number.isNaN(runAfter.getTime())) throw new InvalidInputError("runAfter: the Date is invalid");
    return runAfter.toISOString();
  }
  // Relative delays are not part of the identity, but a malformed one is still a mistake.
  parseDuration(runAfter, { name: "runAfter" });
  return null;
}

function nonEmpty(value: unknown, name: string): string {
  if (typeof value !== "string" || value.trim() === "") {
    throw new InvalidInputError(
      `${name}: expected a non-empty string, got ${typeof value === "string" ? JSON.stringify(value) : String(value)}`,
    );
  }
  return value;
}

function optionalKey(value: unknown, name: string): string | null {
  return value === undefined || value === null ? null : nonEmpty(value, name);
}

function integer(value: unknown, name: string, min: number): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
    const range = min === 0 ? "an integer >= 0" : "an integer";
    throw new InvalidInputError(`${name}: expected ${range}, got ${String(value)}`);
  }
  // -0 would canonicalize to 0 anyway; normalise so the stored spec matches the hash.
  return value === 0 ? 0 : value;
}
