/**
 * Tagged JSON: how task arguments and return values are stored in PostgreSQL JSONB.
 *
 * Plain JSON data passes through unchanged. Values JSON cannot hold (Date, BigInt, Map, Set, bytes,
 * NaN/Infinity/-0, undefined) become `{"$reproq": "<Tag>", "v": <value>}` so they come back with the
 * same type and value, while the stored form stays readable from SQL and other languages.
 * The format is a contract; docs/payloads.md describes it.
 */
import { Buffer } from "node:buffer";
import { InvalidInputError, PayloadError } from "../errors.js";

export type JsonValue = null | boolean | number | string | JsonValue[] | { [k: string]: JsonValue };
type JsonObject = { [k: string]: JsonValue };

/** The reserved key that marks a tagged value. */
export const TAG_KEY = "$reproq";

/** Default for `maxPayloadBytes`: 1 MiB of encoded JSON. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 1_048_576;

/** Tags the codec itself uses; user codecs may not take them. */
export const BUILTIN_TAGS: readonly string[] = Object.freeze([
  "Date",
  "BigInt",
  "Map",
  "Set",
  "Bytes",
  "Buffer",
  "Number",
  "Undefined",
  "Object",
]);

/** Teaches the codec one more type, usually a class. */
export interface Codec<T> {
  /** Name stored in `"$reproq"`; must stay stable once data with it has been written. */
  tag: string;
  /** True when this codec handles `value` (e.g. `value instanceof Money`). */
  test(value: unknown): boolean;
  /** Turns the value into JSON data; the result is itself encoded, so it may hold Dates, Maps, ... */
  encode(value: T): JsonValue;
  /** Rebuilds the value from what `encode` returned. */
  decode(json: JsonValue): T;
}

// Method syntax in Codec keeps parameters bivariant, so a Codec<Money> can be stored here.
const registry = new Map<string, Codec<unknown>>();

const TAG_PATTERN = /^[A-Za-z_][A-Za-z0-9_.:-]*$/;

/** Registers a codec for values (typically class instances) the built-in tags do not cover. */
export function registerCodec<T>(codec: Codec<T>): void {
  if (codec === null || typeof codec !== "object") {
    throw new InvalidInputError("registerCodec: expected an object { tag, test, encode, decode }");
  }
  const { tag } = codec;
  if (typeof tag !== "string" || !TAG_PATTERN.test(tag)) {
    throw new InvalidInputError(
      `registerCodec: tag ${JSON.stringify(tag)} is not valid; use letters, digits, "_", ".", ":" or "-", starting with a letter or "_"`,
    );
  }
  if (BUILTIN_TAGS.includes(tag)) {
    throw new InvalidInputError(
      `registerCodec: tag "${tag}" is built in (${BUILTIN_TAGS.join(", ")}); choose another tag, e.g. "myapp.${tag}"`,
    );
  }
  if (registry.has(tag)) {
    throw new InvalidInputError(
      `registerCodec: tag "${tag}" is already registered; call unregisterCodec("${tag}") first to replace it`,
    );
  }
  for (const name of ["test", "encode", "decode"] as const) {
    if (typeof codec[name] !== "function") {
      throw new InvalidInputError(`registerCodec: codec "${tag}" has no ${name}() function`);
    }
  }
  registry.set(tag, codec as Codec<unknown>);
}

/** Removes a registered codec; returns whether it existed. Mostly for tests. */
export function unregisterCodec(tag: string): boolean {
  return registry.delete(tag);
}

// ---------------------------------------------------------------------------------------------
// Encoding

/** Encodes any supported value to tagged JSON; `path` names the value in error messages. */
export function encodeValue(value: unknown, path = "value"): JsonValue {
  return guardDepth(path, () => encode(value, path, new Map()));
}

/** Encodes a task's positional arguments; errors name them `args[0]`, `args[1]`, ... */
export function encodeArgs(args: readonly unknown[]): JsonValue[] {
  if (!Array.isArray(args)) {
    throw new PayloadError("args", `expected an array of arguments, got ${describe(args)}`);
  }
  const out: JsonValue[] = [];
  // An index loop, not map(): map() skips holes and would leave them in the output.
  for (let i = 0; i < args.length; i++) {
    out.push(encodeValue(args[i], `args[${i}]`));
  }
  return out;
}

export interface PayloadOptions {
  /** Names the value in errors; default "value". */
  path?: string;
  /** Largest allowed `JSON.stringify` length in UTF-8 bytes; default 1 MiB. */
  maxBytes?: number;
}

/** Encodes `value` and rejects it when the encoded JSON is larger than `maxBytes`. */
export function encodePayload(
  value: unknown,
  options: PayloadOptions = {},
): { json: JsonValue; bytes: number } {
  const path = options.path ?? "value";
  const json = encodeValue(value, path);
  return { json, bytes: checkPayloadSize(json, path, options.maxBytes) };
}

/** Like encodePayload for a task's argument list; the size error names `args`. */
export function encodeArgsPayload(
  args: readonly unknown[],
  options: { maxBytes?: number } = {},
): { json: JsonValue[]; bytes: number } {
  const json = encodeArgs(args);
  return { json, bytes: checkPayloadSize(json, "args", options.maxBytes) };
}

/** UTF-8 length of `JSON.stringify(json)`: the size the limit is measured in. */
export function payloadBytes(json: JsonValue): number {
  return Buffer.byteLength(JSON.stringify(json), "utf8");
}

/** Returns the encoded size, or throws PayloadError when it is over `maxBytes`. */
export function checkPayloadSize(
  json: JsonValue,
  path: string,
  maxBytes = DEFAULT_MAX_PAYLOAD_BYTES,
): number {
  if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0) {
    throw new InvalidInputError(`maxPayloadBytes: ${String(maxBytes)} is not a positive integer`);
  }
  return checkPayloadBytes(payloadBytes(json), path, maxBytes);
}

/** @internal checkPayloadSize for a size already measured (the UTF-8 length of the JSON text). */
export function checkPayloadBytes(bytes: number, path: string, maxBytes = DEFAULT_MAX_PAYLOAD_BYTES): number {
  if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0) {
    throw new InvalidInputError(`maxPayloadBytes: ${String(maxBytes)} is not a positive integer`);
  }
  if (bytes > maxBytes) {
    throw new PayloadError(
      path,
      `encoded payload is ${bytes} bytes, over the limit of ${maxBytes} bytes; raise maxPayloadBytes or pass a reference (e.g. an id) instead`,
    );
  }
  return bytes;
}

/** `ancestors` maps each object being encoded to its path, to detect and report cycles. */
type Ancestors = Map<object, string>;

function encode(value: unknown, path: string, ancestors: Ancestors): JsonValue {
  switch (typeof value) {
    case "string":
      checkString(value, path);
      return value;
    case "boolean":
      return value;
    case "number":
      return encodeNumber(value);
    case "undefined":
      return { [TAG_KEY]: "Undefined" };
    case "bigint":
      return tagged("BigInt", value.toString());
    case "symbol":
      throw new PayloadError(
        path,
        `${String(value)} is a symbol and cannot be encoded; pass plain data instead`,
      );
    case "function":
      throw new PayloadError(
        path,
        `function${value.name ? ` ${value.name}` : ""} cannot be encoded; pass plain data instead`,
      );
  }
  if (value === null) return null;
  const object = value as object;

  const seenAt = ancestors.get(object);
  if (seenAt !== undefined) {
    throw new PayloadError(path, `circular reference to ${seenAt}`);
  }
  ancestors.set(object, path);
  try {
    return encodeObject(object, path, ancestors);
  } finally {
    // Only ancestors count: the same object may appear twice side by side (it is then copied).
    ancestors.delete(object);
  }
}

function encodeNumber(value: number): JsonValue {
  if (Number.isFinite(value) && !Object.is(value, -0)) return value;
  // JSON has no NaN or Infinity, and JSON.stringify(-0) is "0".
  return tagged("Number", Object.is(value, -0) ? "-0" : String(value));
}

function encodeObject(object: object, path: string, ancestors: Ancestors): JsonValue {
  const proto: unknown = Object.getPrototypeOf(object);

  if (Array.isArray(object) && proto === Array.prototype) {
    const out: JsonValue[] = [];
    for (let i = 0; i < object.length; i++) {
      out.push(encode(object[i], `${path}[${i}]`, ancestors));
    }
    return out;
  }
  if (proto === Object.prototype || proto === null) {
    const record = object as Record<string, unknown>;
    rejectSymbolKeys(record, path);
    const out: JsonObject = {};
    for (const key of Object.keys(record)) {
      const keyPath = propertyPath(path, key);
      checkString(key, keyPath, "property name");
      setOwn(out, key, encode(record[key], keyPath, ancestors));
    }
    // A user object that looks like a tag is wrapped so decoding never mistakes it for one.
    return Object.hasOwn(out, TAG_KEY) ? tagged("Object", out) : out;
  }
  if (object instanceof Date && proto === Date.prototype) {
    const time = object.getTime();
    return tagged("Date", Number.isNaN(time) ? null : object.toISOString());
  }
  if (object instanceof Map && proto === Map.prototype) {
    const entries: JsonValue[] = [];
    let i = 0;
    for (const [key, entry] of object) {
      entries.push([
        encode(key, `${path}.<Map key ${i}>`, ancestors),
        encode(entry, `${path}.<Map value ${i}>`, ancestors),
      ]);
      i++;
    }
    return tagged("Map", entries);
  }
  if (object instanceof Set && proto === Set.prototype) {
    const members: JsonValue[] = [];
    let i = 0;
    for (const member of object) {
      members.push(encode(member, `${path}.<Set member ${i}>`, ancestors));
      i++;
    }
    return tagged("Set", members);
  }
  if (Buffer.isBuffer(object)) {
    return tagged("Buffer", object.toString("base64"));
  }
  if (object instanceof Uint8Array && proto === Uint8Array.prototype) {
    return tagged(
      "Bytes",
      Buffer.from(object.buffer, object.byteOffset, object.byteLength).toString("base64"),
    );
  }

  for (const codec of registry.values()) {
    if (!callCodec(codec.tag, "test", path, () => codec.test(object))) continue;
    const data = callCodec(codec.tag, "encode", path, () => codec.encode(object));
    return tagged(codec.tag, encode(data, `${path}.<${codec.tag} data>`, ancestors));
  }

  throw new PayloadError(path, unsupportedMessage(object));
}

function unsupportedMessage(object: object): string {
  if (object instanceof Promise) return "a Promise cannot be encoded; await it and pass the result";
  if (object instanceof WeakMap || object instanceof WeakSet || object instanceof WeakRef) {
    return `a ${className(object)} cannot be encoded (its contents cannot be read); use a Map, Set or plain data`;
  }
  if (Array.isArray(object)) {
    return `instance of array subclass ${className(object)} has no codec; pass a plain array or registerCodec(...)`;
  }
  return `instance of class ${className(object)} has no codec; pass plain data or registerCodec(...)`;
}

function rejectSymbolKeys(record: object, path: string): void {
  for (const symbol of Object.getOwnPropertySymbols(record)) {
    // Non-enumerable symbols are library bookkeeping that JSON.stringify ignores too.
    if (Object.prototype.propertyIsEnumerable.call(record, symbol)) {
      throw new PayloadError(
        `${path}[${String(symbol)}]`,
        "symbol-keyed properties cannot be encoded; use a string key",
      );
    }
  }
}

// PostgreSQL JSONB cannot store U+0000, and lone surrogates have no UTF-8 form: catch both here,
// where the path can still be named, instead of failing later inside an INSERT.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function checkString(text: string, path: string, what = "string"): void {
  if (text.includes("\u0000")) {
    throw new PayloadError(
      path,
      `${what} contains U+0000, which PostgreSQL JSONB cannot store; pass binary data as a Uint8Array`,
    );
  }
  const match = LONE_SURROGATE.exec(text);
  if (match === null) return;
  const hex = match[0].charCodeAt(0).toString(16).toUpperCase();
  throw new PayloadError(
    path,
    `${what} contains a lone surrogate (U+${hex}) at index ${match.index}, which has no UTF-8 form`,
  );
}

function tagged(tag: string, v: JsonValue): JsonValue {
  return { [TAG_KEY]: tag, v };
}

// ---------------------------------------------------------------------------------------------
// Decoding

/** Decodes tagged JSON produced by encodeValue (or by another producer following the format). */
export function decodeValue(json: JsonValue, path = "value"): unknown {
  return guardDepth(path, () => decode(json, path));
}

/** Decodes a stored argument list. */
export function decodeArgs(json: JsonValue): unknown[] {
  if (!Array.isArray(json)) {
    throw new PayloadError("args", `expected an array of encoded arguments, got ${describe(json)}`);
  }
  const out: unknown[] = [];
  for (let i = 0; i < json.length; i++) {
    out.push(decodeValue(json[i] as JsonValue, `args[${i}]`));
  }
  return out;
}

function decode(json: unknown, path: string): unknown {
  if (json === null || typeof json === "string" || typeof json === "boolean") return json;
  if (typeof json === "number") {
    if (!Number.isFinite(json)) throw new PayloadError(path, `${json} is not valid JSON`);
    return json;
  }
  if (Array.isArray(json)) {
    const out: unknown[] = [];
    for (let i = 0; i < json.length; i++) out.push(decode(json[i], `${path}[${i}]`));
    return out;
  }
  if (typeof json !== "object" || !isPlainObject(json)) {
    throw new PayloadError(path, `expected JSON, got ${describe(json)}`);
  }
  const record = json as Record<string, unknown>;
  if (Object.hasOwn(record, TAG_KEY)) return decodeTagged(record, path);
  return decodeProperties(record, path);
}

function decodeProperties(record: Record<string, unknown>, path: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(record)) {
    setOwn(out, key, decode(record[key], propertyPath(path, key)));
  }
  return out;
}

function decodeTagged(record: Record<string, unknown>, path: string): unknown {
  const tag = record[TAG_KEY];
  if (typeof tag !== "string") {
    throw new PayloadError(path, `"${TAG_KEY}" must be a tag name string, got ${describe(tag)}`);
  }
  const extra = Object.keys(record).filter((key) => key !== TAG_KEY && key !== "v");
  if (extra.length > 0) {
    throw new PayloadError(
      path,
      `tagged value "${tag}" has unexpected keys ${extra.map((k) => JSON.stringify(k)).join(", ")}; only "${TAG_KEY}" and "v" are allowed`,
    );
  }
  const v = record.v;
  const hasV = Object.hasOwn(record, "v");
  if (tag === "Undefined") {
    if (hasV) throw new PayloadError(path, `tagged value "Undefined" must not have "v"`);
    return undefined;
  }
  if (!hasV) throw new PayloadError(path, `tagged value "${tag}" has no "v"`);

  switch (tag) {
    case "Date":
      return decodeDate(v, path);
    case "BigInt":
      if (typeof v !== "string" || !/^-?(?:0|[1-9][0-9]*)$/.test(v)) {
        throw badTagged(path, tag, "a decimal integer string", v);
      }
      return BigInt(v);
    case "Number":
      return decodeSpecialNumber(v, path);
    case "Map":
      return decodeMap(v, path);
    case "Set": {
      if (!Array.isArray(v)) throw badTagged(path, tag, "an array of members", v);
      return new Set(v.map((member, i) => decode(member, `${path}.<Set member ${i}>`)));
    }
    case "Bytes":
      return new Uint8Array(decodeBase64(v, path, tag));
    case "Buffer":
      return decodeBase64(v, path, tag);
    case "Object":
      if (v === null || typeof v !== "object" || Array.isArray(v)) throw badTagged(path, tag, "an object", v);
      // The wrapped object's own "$reproq" key is user data, so its keys are taken as they are.
      return decodeProperties(v as Record<string, unknown>, path);
  }

  const codec = registry.get(tag);
  if (codec === undefined) {
    throw new PayloadError(
      path,
      `unknown tag "${tag}"; if it comes from registerCodec(...), register that codec in this process before decoding`,
    );
  }
  const data = decode(v, `${path}.<${tag} data>`);
  return callCodec(tag, "decode", path, () => codec.decode(data as JsonValue));
}

// Accepts any ISO-8601 date-time (other producers may omit milliseconds), not Date's lenient formats.
const ISO_DATE = /^(?:[+-]\d{6}|\d{4})-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})$/;

function decodeDate(v: unknown, path: string): Date {
  if (v === null) return new Date(Number.NaN);
  if (typeof v !== "string" || !ISO_DATE.test(v)) {
    throw badTagged(path, "Date", "an ISO-8601 date-time string or null", v);
  }
  const date = new Date(v);
  if (Number.isNaN(date.getTime())) throw badTagged(path, "Date", "a valid date-time", v);
  return date;
}

function decodeSpecialNumber(v: unknown, path: string): number {
  switch (v) {
    case "NaN":
      return Number.NaN;
    case "Infinity":
      return Number.POSITIVE_INFINITY;
    case "-Infinity":
      return Number.NEGATIVE_INFINITY;
    case "-0":
      return -0;
  }
  throw badTagged(path, "Number", '"NaN", "Infinity", "-Infinity" or "-0"', v);
}

function decodeMap(v: unknown, path: string): Map<unknown, unknown> {
  if (!Array.isArray(v)) throw badTagged(path, "Map", "an array of [key, value] pairs", v);
  const map = new Map<unknown, unknown>();
  v.forEach((pair: unknown, i) => {
    if (!Array.isArray(pair) || pair.length !== 2) {
      throw new PayloadError(
        `${path}.<Map entry ${i}>`,
        `expected a [key, value] pair, got ${describe(pair)}`,
      );
    }
    map.set(decode(pair[0], `${path}.<Map key ${i}>`), decode(pair[1], `${path}.<Map value ${i}>`));
  });
  return map;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function decodeBase64(v: unknown, path: string, tag: string): Buffer {
  // Buffer.from(..., "base64") silently skips bad characters; be strict so corruption is reported.
  if (typeof v !== "string" || !BASE64.test(v)) throw badTagged(path, tag, "a base64 string", v);
  return Buffer.from(v, "base64");
}

function badTagged(path: string, tag: string, expected: string, got: unknown): PayloadError {
  return new PayloadError(path, `tagged value "${tag}" needs "v" to be ${expected}, got ${describe(got)}`);
}

// ---------------------------------------------------------------------------------------------
// Shared helpers

function isPlainObject(value: object): boolean {
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Assigns an own property; plain assignment of "__proto__" would change the prototype instead. */
function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === "__proto__") {
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    target[key] = value;
  }
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function propertyPath(path: string, key: string): string {
  return IDENTIFIER.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

function className(object: object): string {
  const ctor: unknown = (Object.getPrototypeOf(object) as { constructor?: unknown } | null)?.constructor;
  const name = typeof ctor === "function" ? ctor.name : "";
  return name || "(anonymous)";
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object")
    return isPlainObject(value) ? "an object" : `an instance of ${className(value)}`;
  if (typeof value === "string")
    return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value)}`;
  return `${typeof value} ${String(value)}`;
}

function callCodec<R>(tag: string, step: "test" | "encode" | "decode", path: string, run: () => R): R {
  try {
    return run();
  } catch (error) {
    if (error instanceof PayloadError) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    throw new PayloadError(path, `codec "${tag}" failed in ${step}(): ${reason}`, { cause: error });
  }
}

/** Turns a stack overflow from absurdly deep nesting into a PayloadError naming the value. */
function guardDepth<R>(path: string, run: () => R): R {
  try {
    return run();
  } catch (error) {
    if (error instanceof RangeError && /call stack/i.test(error.message)) {
      throw new PayloadError(path, "value is nested too deeply to encode or decode", { cause: error });
    }
    throw error;
  }
}
