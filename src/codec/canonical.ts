/**
 * Canonical JSON (RFC 8785, JSON Canonicalization Scheme) and SHA-256, the two halves of spec_hash.
 * Any other producer (SQL, another language) that canonicalizes the same JSON gets the same bytes.
 */
import crypto, { createHash } from "node:crypto";
import canonicalize from "canonicalize";
import { InvalidInputError } from "../errors.js";
import type { JsonValue } from "./tagged.js";

/** RFC 8785 canonical form of `value`: sorted keys (UTF-16 order), no whitespace, ES number format. */
export function canonicalJson(value: JsonValue): string {
  // Fast path: one pass that both checks and writes. Anything it does not accept is handed to the
  // original two-step path below, so errors (and their paths) are exactly those of that path.
  const fast = tryCanonical(value, 0);
  if (fast !== undefined) return fast;
  return checkedCanonicalize(value);
}

/** Strict path: canonicalize() quietly drops undefined properties and calls toJSON(); checking first means
 * the output is always the canonical form of exactly the JSON the caller holds. */
function checkedCanonicalize(value: JsonValue): string {
  assertJson(value, "$", new Set());
  let text: string | undefined;
  try {
    text = canonicalize(value);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new InvalidInputError(`canonicalJson: ${reason}`, { cause: error });
  }
  if (text === undefined) throw new InvalidInputError("canonicalJson: value is not JSON");
  return text;
}

/** SHA-256 of the UTF-8 bytes of `text`, as lowercase hex. */
export const sha256Hex: (text: string) => string = pickSha256();

function pickSha256(): (text: string) => string {
  // crypto.hash() (Node >= 20.12) is a one-shot digest without a Hash object per call.
  const oneShot = (crypto as { hash?: (algorithm: string, data: string, encoding: "hex") => string }).hash;
  if (typeof oneShot === "function") return (text) => oneShot("sha256", text, "hex");
  return (text) => createHash("sha256").update(text, "utf8").digest("hex");
}

/** Past this depth the fast path gives up and the strict path reports (or handles) the value. */
const FAST_DEPTH = 200;

/**
 * RFC 8785 text of `value` when it is plain JSON (the same text canonicalize() gives), else undefined.
 * Strings and numbers are written by JSON.stringify, as canonicalize() does; keys sort by UTF-16 units.
 */
function tryCanonical(value: unknown, depth: number): string | undefined {
  switch (typeof value) {
    case "string":
      return isWellFormed(value) ? JSON.stringify(value) : undefined;
    case "number":
      return Number.isFinite(value) ? JSON.stringify(value) : undefined;
    case "boolean":
      return value ? "true" : "false";
    case "object":
      break;
    default:
      return undefined;
  }
  if (value === null) return "null";
  // Cycles end here too: a cycle is deeper than any limit.
  if (depth >= FAST_DEPTH) return undefined;
  if (Array.isArray(value)) {
    if (Object.getPrototypeOf(value) !== Array.prototype) return undefined;
    let out = "[";
    for (let i = 0; i < value.length; i++) {
      const item = tryCanonical(value[i], depth + 1);
      if (item === undefined) return undefined;
      out += i === 0 ? item : `,${item}`;
    }
    return `${out}]`;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return undefined;
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record).sort();
  let out = "{";
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    if (!isWellFormed(key)) return undefined;
    const item = tryCanonical(record[key], depth + 1);
    if (item === undefined) return undefined;
    out += `${i === 0 ? "" : ","}${JSON.stringify(key)}:${item}`;
  }
  return `${out}}`;
}

/** True when `text` has no lone surrogate (so it has a UTF-8 form). */
export const isWellFormed: (text: string) => boolean = pickWellFormed();

function pickWellFormed(): (text: string) => boolean {
  const native = (String.prototype as { isWellFormed?: () => boolean }).isWellFormed;
  if (typeof native === "function") return (text) => native.call(text);
  return (text) => !LONE_SURROGATE.test(text);
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function assertJson(value: unknown, path: string, ancestors: Set<object>): void {
  if (value === null || typeof value === "boolean") return;
  if (typeof value === "string") {
    if (LONE_SURROGATE.test(value)) reject(path, "a string with a lone surrogate (it has no UTF-8 form)");
    return;
  }
  if (typeof value === "number") {
    if (!Number.isFinite(value)) reject(path, String(value));
    return;
  }
  if (typeof value !== "object") reject(path, typeof value);
  if (ancestors.has(value)) reject(path, "a circular reference");
  ancestors.add(value);
  if (Array.isArray(value) && Object.getPrototypeOf(value) === Array.prototype) {
    for (let i = 0; i < value.length; i++) assertJson(value[i], `${path}[${i}]`, ancestors);
  } else {
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) reject(path, "a class instance");
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      if (LONE_SURROGATE.test(key)) reject(path, "a key with a lone surrogate");
      assertJson(record[key], `${path}[${JSON.stringify(key)}]`, ancestors);
    }
  }
  ancestors.delete(value);
}

function reject(path: string, what: string): never {
  throw new InvalidInputError(
    `canonicalJson: ${path} is ${what}, which is not JSON; encode values with the tagged codec first`,
  );
}
