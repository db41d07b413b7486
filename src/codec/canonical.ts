/**
 * Canonical JSON (RFC 8785, JSON Canonicalization Scheme) and SHA-256, the two halves of spec_hash.
 * Any other producer (SQL, another language) that canonicalizes the same JSON gets the same bytes.
 */
import { createHash } from "node:crypto";
import canonicalize from "canonicalize";
import { InvalidInputError } from "../errors.js";
import type { JsonValue } from "./tagged.js";

/** RFC 8785 canonical form of `value`: sorted keys (UTF-16 order), no whitespace, ES number format. */
export function canonicalJson(value: JsonValue): string {
  // canonicalize() quietly drops undefined properties and calls toJSON(); checking first means
  // the output is always the canonical form of exactly the JSON the caller holds.
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
export function sha256Hex(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
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
