/**
 * The tagged payload codec: exact round trips, the stored JSON form, error paths and size limits.
 */
import { Buffer } from "node:buffer";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { canonicalJson } from "../../src/codec/canonical.js";
import {
  checkPayloadSize,
  DEFAULT_MAX_PAYLOAD_BYTES,
  decodeArgs,
  decodeValue,
  encodeArgs,
  encodeArgsPayload,
  encodePayload,
  encodeValue,
  type JsonValue,
  registerCodec,
  unregisterCodec,
} from "../../src/codec/tagged.js";
import { InvalidInputError, PayloadError } from "../../src/errors.js";

// ---------------------------------------------------------------------------------------------
// Strict structural equality: same prototypes, Object.is for numbers, Map/Set order, byte contents.

function difference(a: unknown, b: unknown, path = "$"): string | null {
  if (typeof a !== typeof b) return `${path}: ${typeof a} vs ${typeof b}`;
  if (typeof a === "number") return Object.is(a, b) ? null : `${path}: ${a} vs ${String(b)}`;
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object") {
    return a === b ? null : `${path}: ${String(a)} vs ${String(b)}`;
  }
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) {
    return `${path}: prototype ${a.constructor?.name} vs ${b.constructor?.name}`;
  }
  if (a instanceof Date && b instanceof Date) {
    return Object.is(a.getTime(), b.getTime()) ? null : `${path}: ${a.getTime()} vs ${b.getTime()}`;
  }
  if (a instanceof Uint8Array && b instanceof Uint8Array) {
    return Buffer.compare(a, b) === 0 ? null : `${path}: bytes differ`;
  }
  if (a instanceof Map && b instanceof Map) return sequenceDifference([...a], [...b], path);
  if (a instanceof Set && b instanceof Set) return sequenceDifference([...a], [...b], path);
  if (Array.isArray(a) && Array.isArray(b)) return sequenceDifference(a, b, path);
  const recordA = a as Record<string, unknown>;
  const recordB = b as Record<string, unknown>;
  const keysA = Object.keys(recordA).sort();
  const keysB = Object.keys(recordB).sort();
  if (keysA.join("\u0001") !== keysB.join("\u0001")) return `${path}: keys ${keysA} vs ${keysB}`;
  for (const key of keysA) {
    const inner = difference(recordA[key], recordB[key], `${path}[${JSON.stringify(key)}]`);
    if (inner) return inner;
  }
  return null;
}

function sequenceDifference(a: readonly unknown[], b: readonly unknown[], path: string): string | null {
  if (a.length !== b.length) return `${path}: length ${a.length} vs ${b.length}`;
  for (let i = 0; i < a.length; i++) {
    const inner = difference(a[i], b[i], `${path}[${i}]`);
    if (inner) return inner;
  }
  return null;
}

/** What a value looks like after a trip through the database: JSON text and back. */
function throughJson(value: unknown, path?: string): unknown {
  const text = JSON.stringify(encodeValue(value, path));
  return decodeValue(JSON.parse(text) as JsonValue, path);
}

function expectRoundTrip(value: unknown): void {
  expect(difference(throughJson(value), value)).toBeNull();
}

/** Runs `fn` and returns the PayloadError it throws. */
function payloadError(fn: () => unknown): PayloadError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(PayloadError);
    return error as PayloadError;
  }
  throw new Error("expected a PayloadError");
}

// ---------------------------------------------------------------------------------------------

describe("plain JSON", () => {
  it("passes through unchanged", () => {
    const value = { name: "Ada", tags: ["a", "b"], n: 1.5, ok: true, none: null, nested: { deep: [[1]] } };
    expect(encodeValue(value)).toStrictEqual(value);
    expect(encodeArgs(["x", 1, false, null])).toStrictEqual(["x", 1, false, null]);
  });

  it("decodes plain JSON unchanged", () => {
    const json = { a: [1, "two", { three: null }] };
    expect(decodeValue(json)).toStrictEqual(json);
  });
});

describe("tagged values", () => {
  const cases: Array<[string, unknown, JsonValue]> = [
    ["Date", new Date("2025-01-01T00:00:00.000Z"), { $reproq: "Date", v: "2025-01-01T00:00:00.000Z" }],
    ["invalid Date", new Date(Number.NaN), { $reproq: "Date", v: null }],
    ["BigInt", -123456789012345678901234567890n, { $reproq: "BigInt", v: "-123456789012345678901234567890" }],
    [
      "Map",
      new Map<unknown, unknown>([
        ["a", 1],
        [2n, "b"],
      ]),
      {
        $reproq: "Map",
        v: [
          ["a", 1],
          [{ $reproq: "BigInt", v: "2" }, "b"],
        ],
      },
    ],
    ["Set", new Set(["x", 1]), { $reproq: "Set", v: ["x", 1] }],
    ["Uint8Array", new Uint8Array([0, 1, 254, 255]), { $reproq: "Bytes", v: "AAH+/w==" }],
    ["Buffer", Buffer.from("héllo"), { $reproq: "Buffer", v: "aMOpbGxv" }],
    ["NaN", Number.NaN, { $reproq: "Number", v: "NaN" }],
    ["Infinity", Number.POSITIVE_INFINITY, { $reproq: "Number", v: "Infinity" }],
    ["-Infinity", Number.NEGATIVE_INFINITY, { $reproq: "Number", v: "-Infinity" }],
    ["-0", -0, { $reproq: "Number", v: "-0" }],
    ["undefined", undefined, { $reproq: "Undefined" }],
    [
      "object with a $reproq key",
      { $reproq: "Date", v: "2025-01-01T00:00:00.000Z" },
      { $reproq: "Object", v: { $reproq: "Date", v: "2025-01-01T00:00:00.000Z" } },
    ],
  ];

  for (const [name, value, encoded] of cases) {
    it(`${name} encodes as documented and round-trips exactly`, () => {
      expect(encodeValue(value)).toStrictEqual(encoded);
      expectRoundTrip(value);
    });
  }

  it("keeps Dates outside the four-digit year range", () => {
    expectRoundTrip(new Date(8.64e15));
    expectRoundTrip(new Date(-8.64e15));
    expectRoundTrip(new Date(-1));
  });

  it("accepts ISO dates from other producers without milliseconds or with an offset", () => {
    const at = new Date("2025-01-01T12:00:00.000Z");
    expect(decodeValue({ $reproq: "Date", v: "2025-01-01T12:00:00Z" })).toStrictEqual(at);
    expect(decodeValue({ $reproq: "Date", v: "2025-01-01T13:00:00+01:00" })).toStrictEqual(at);
  });

  it("brings back Uint8Array and Buffer as their own classes", () => {
    const bytes = throughJson(new Uint8Array([1, 2]));
    const buffer = throughJson(Buffer.from([1, 2]));
    expect(Buffer.isBuffer(bytes)).toBe(false);
    expect(bytes).toBeInstanceOf(Uint8Array);
    expect(Buffer.isBuffer(buffer)).toBe(true);
  });

  it("encodes only the viewed bytes of a Uint8Array or Buffer slice", () => {
    const backing = new Uint8Array([9, 9, 1, 2, 3, 9]);
    expect(encodeValue(backing.subarray(2, 5))).toStrictEqual({ $reproq: "Bytes", v: "AQID" });
    expect(encodeValue(Buffer.from(backing.buffer, 2, 3))).toStrictEqual({ $reproq: "Buffer", v: "AQID" });
  });

  it("handles undefined in arrays, object properties, holes and arguments", () => {
    const object = throughJson({ a: undefined, b: 1 }) as Record<string, unknown>;
    expect(Object.keys(object).sort()).toEqual(["a", "b"]);
    expect(object.a).toBeUndefined();

    expect(encodeValue([1, undefined])).toStrictEqual([1, { $reproq: "Undefined" }]);
    // biome-ignore lint/suspicious/noSparseArray: the hole is the point of this test
    const decoded = throughJson([1, , 3]) as unknown[];
    expect(decoded).toHaveLength(3);
    expect(1 in decoded).toBe(true);
    expect(decoded[1]).toBeUndefined();

    expect(decodeArgs(JSON.parse(JSON.stringify(encodeArgs([undefined, 1]))) as JsonValue)).toStrictEqual([
      undefined,
      1,
    ]);
  });

  it("round-trips nested combinations", () => {
    const key = { id: 1 };
    expectRoundTrip({
      when: new Date(0),
      counts: new Map<unknown, unknown>([
        [key, new Set([1n, Number.NaN, -0, undefined])],
        [new Date(5), [Buffer.from("x"), new Uint8Array([7])]],
        [undefined, { deep: [{ deeper: new Map([[-0, Number.POSITIVE_INFINITY]]) }] }],
      ]),
      list: [undefined, null, -0, { $reproq: { $reproq: "Undefined" } }],
    });
  });

  it("escapes user objects whose $reproq key holds anything", () => {
    for (const value of [
      { $reproq: "Undefined" },
      { $reproq: "Nope", v: 1, extra: true },
      { $reproq: { $reproq: "Object", v: {} } },
      { $reproq: null },
      [{ $reproq: "BigInt", v: "1" }],
    ]) {
      expectRoundTrip(value);
    }
  });

  it("keeps an own __proto__ key as data and never changes a prototype", () => {
    const value = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}') as Record<string, unknown>;
    const decoded = throughJson(value) as Record<string, unknown>;
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
    expect(Object.hasOwn(decoded, "__proto__")).toBe(true);
    expect(difference(decoded, value)).toBeNull();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("accepts null-prototype objects and decodes them as ordinary objects", () => {
    const value = Object.assign(Object.create(null) as Record<string, unknown>, { a: 1 });
    expect(encodeValue(value)).toStrictEqual({ a: 1 });
    expect(throughJson(value)).toStrictEqual({ a: 1 });
  });

  it("copies a shared (non-circular) reference at each place it appears", () => {
    const shared = { n: 1 };
    expect(encodeValue({ a: shared, b: [shared, shared] })).toStrictEqual({
      a: { n: 1 },
      b: [{ n: 1 }, { n: 1 }],
    });
  });
});

describe("rejections name the bad value", () => {
  class Foo {
    x = 1;
  }

  const cases: Array<[string, () => unknown, string, RegExp]> = [
    [
      "a function property",
      () => encodeArgs([1, { user: { name: "a", save() {} } }]),
      "args[1].user.save",
      /function save cannot be encoded/,
    ],
    [
      "an array element",
      () => encodeArgs([{ items: [0, 1, 2, () => 0] }]),
      "args[0].items[3]",
      /function cannot be encoded/,
    ],
    ["a symbol value", () => encodeArgs([{ s: Symbol("x") }]), "args[0].s", /Symbol\(x\) is a symbol/],
    ["a symbol key", () => encodeArgs([{ a: { [Symbol("k")]: 1 } }]), "args[0].a[Symbol(k)]", /symbol-keyed/],
    [
      "a class instance",
      () => encodeArgs([{ foo: new Foo() }]),
      "args[0].foo",
      /instance of class Foo has no codec; pass plain data or registerCodec\(\.\.\.\)/,
    ],
    [
      "a Map key",
      () =>
        encodeArgs([
          new Map<unknown, number>([
            [1, 1],
            [2, 2],
            [Symbol("k"), 3],
          ]),
        ]),
      "args[0].<Map key 2>",
      /symbol/,
    ],
    ["a Map value", () => encodeArgs([new Map([["a", () => 1]])]), "args[0].<Map value 0>", /function/],
    ["a Set member", () => encodeArgs([new Set([1, new Foo()])]), "args[0].<Set member 1>", /class Foo/],
    ["a quoted key", () => encodeValue({ "a-b": { x: new Foo() } }), 'value["a-b"].x', /class Foo/],
    ["a WeakMap", () => encodeValue({ w: new WeakMap() }), "value.w", /WeakMap cannot be encoded/],
    ["a WeakSet", () => encodeValue([new WeakSet()]), "value[0]", /WeakSet cannot be encoded/],
    ["a Promise", () => encodeValue(Promise.resolve(1)), "value", /Promise cannot be encoded; await it/],
    ["a typed array", () => encodeValue(new Int32Array(2)), "value", /class Int32Array has no codec/],
    ["a RegExp", () => encodeValue({ re: /x/ }), "value.re", /class RegExp has no codec/],
    ["an Error", () => encodeValue(new Error("x")), "value", /class Error has no codec/],
    [
      "an array subclass",
      () => encodeValue(new (class List extends Array {})()),
      "value",
      /array subclass List/,
    ],
    [
      "a Date subclass",
      () => encodeValue(new (class Day extends Date {})()),
      "value",
      /class Day has no codec/,
    ],
    ["a NUL character", () => encodeArgs(["ok", "a\u0000b"]), "args[1]", /U\+0000/],
    [
      "a NUL in a key",
      () => encodeValue({ "a\u0000": 1 }),
      'value["a\\u0000"]',
      /property name contains U\+0000/,
    ],
    ["a lone surrogate", () => encodeValue(["\ud800x"]), "value[0]", /lone surrogate \(U\+D800\)/],
  ];

  for (const [name, run, path, message] of cases) {
    it(`rejects ${name} at ${path}`, () => {
      const error = payloadError(run);
      expect(error.path).toBe(path);
      expect(error.code).toBe("PAYLOAD");
      expect(error.message).toMatch(message);
      expect(error.message.startsWith(`${path}: `)).toBe(true);
    });
  }

  it("rejects cycles, naming where the cycle closes and where it points", () => {
    const object: Record<string, unknown> = { a: 1 };
    object.self = object;
    let error = payloadError(() => encodeArgs([0, object]));
    expect(error.path).toBe("args[1].self");
    expect(error.message).toBe("args[1].self: circular reference to args[1]");

    const list: unknown[] = [1];
    list.push({ back: list });
    error = payloadError(() => encodeValue(list));
    expect(error.path).toBe("value[1].back");

    const map = new Map<string, unknown>();
    map.set("me", map);
    error = payloadError(() => encodeValue(map));
    expect(error.path).toBe("value.<Map value 0>");
    expect(error.message).toMatch(/circular reference/);
  });

  it("turns absurd nesting into a PayloadError instead of a stack overflow", () => {
    let deep: unknown[] = [];
    for (let i = 0; i < 200_000; i++) deep = [deep];
    expect(payloadError(() => encodeValue(deep)).message).toMatch(/nested too deeply/);
  });
});

describe("decoding malformed input", () => {
  const cases: Array<[string, JsonValue, string, RegExp]> = [
    [
      "an unknown tag",
      { a: [{ $reproq: "Money", v: "1" }] },
      "value.a[0]",
      /unknown tag "Money".*registerCodec/,
    ],
    ["a non-string tag", { $reproq: 1, v: 1 }, "value", /must be a tag name string/],
    ["extra keys", { $reproq: "Date", v: null, x: 1 }, "value", /unexpected keys "x"/],
    ["a missing v", { $reproq: "BigInt" }, "value", /has no "v"/],
    ["Undefined with v", { $reproq: "Undefined", v: null }, "value", /must not have "v"/],
    ["a bad BigInt", { $reproq: "BigInt", v: "1.5" }, "value", /decimal integer string/],
    ["a bad Number", { $reproq: "Number", v: "1" }, "value", /"NaN", "Infinity", "-Infinity" or "-0"/],
    ["a bad Date", { $reproq: "Date", v: "tomorrow" }, "value", /ISO-8601/],
    ["an impossible Date", { $reproq: "Date", v: "2025-13-45T00:00:00Z" }, "value", /valid date-time/],
    ["bad base64", { $reproq: "Bytes", v: "not base64!" }, "value", /base64/],
    ["a Map entry that is not a pair", { $reproq: "Map", v: [[1, 2], [3]] }, "value.<Map entry 1>", /pair/],
    ["a Set that is not an array", { $reproq: "Set", v: {} }, "value", /array of members/],
    ["an Object tag around an array", { $reproq: "Object", v: [] }, "value", /an object/],
  ];
  for (const [name, json, path, message] of cases) {
    it(`reports ${name} at ${path}`, () => {
      const error = payloadError(() => decodeValue(json));
      expect(error.path).toBe(path);
      expect(error.message).toMatch(message);
    });
  }

  it("reports an argument list that is not an array", () => {
    expect(payloadError(() => decodeArgs({ a: 1 })).path).toBe("args");
    expect(payloadError(() => decodeArgs([1, { $reproq: "Nope", v: 0 }])).path).toBe("args[1]");
  });
});

describe("registerCodec", () => {
  class Money {
    constructor(
      readonly amount: bigint,
      readonly currency: string,
    ) {}
  }
  const moneyCodec = {
    tag: "Money",
    test: (value: unknown): value is Money => value instanceof Money,
    encode: (value: Money): JsonValue => ({ amount: value.amount.toString(), currency: value.currency }),
    decode: (json: JsonValue): Money => {
      const { amount, currency } = json as { amount: string; currency: string };
      return new Money(BigInt(amount), currency);
    },
  };

  afterEach(() => {
    unregisterCodec("Money");
    unregisterCodec("Stamp");
    unregisterCodec("Broken");
  });

  it("encodes and decodes registered class instances, also nested", () => {
    expect(() => encodeValue(new Money(1n, "EUR"))).toThrow(/instance of class Money has no codec/);
    registerCodec(moneyCodec);
    expect(encodeValue(new Money(1250n, "EUR"))).toStrictEqual({
      $reproq: "Money",
      v: { amount: "1250", currency: "EUR" },
    });
    const value = { totals: new Map([["a", new Money(5n, "USD")]]), list: [new Money(-1n, "JPY")] };
    const back = throughJson(value) as typeof value;
    expect(back.list[0]).toBeInstanceOf(Money);
    expect(back.totals.get("a")).toStrictEqual(new Money(5n, "USD"));
    expect(back.list[0]).toStrictEqual(new Money(-1n, "JPY"));
  });

  it("encodes what a codec returns, so it may contain tagged values", () => {
    class Stamp {
      constructor(readonly at: Date) {}
    }
    registerCodec<Stamp>({
      tag: "Stamp",
      test: (value) => value instanceof Stamp,
      // Returns a Date inside the data; the codec tags it, and decode gets a Date back.
      encode: (value) => ({ at: value.at }) as unknown as JsonValue,
      decode: (json) => new Stamp((json as unknown as { at: Date }).at),
    });
    const encoded = encodeValue(new Stamp(new Date(0)));
    expect(encoded).toStrictEqual({
      $reproq: "Stamp",
      v: { at: { $reproq: "Date", v: "1970-01-01T00:00:00.000Z" } },
    });
    expect(decodeValue(encoded)).toStrictEqual(new Stamp(new Date(0)));
  });

  it("rejects built-in, duplicate and malformed tags with InvalidInputError", () => {
    for (const tag of ["Date", "Map", "Undefined", "Object", "Buffer"]) {
      expect(() => registerCodec({ ...moneyCodec, tag })).toThrow(InvalidInputError);
      expect(() => registerCodec({ ...moneyCodec, tag })).toThrow(/is built in/);
    }
    registerCodec(moneyCodec);
    expect(() => registerCodec(moneyCodec)).toThrow(/already registered/);
    expect(() => registerCodec({ ...moneyCodec, tag: "" })).toThrow(InvalidInputError);
    expect(() => registerCodec({ ...moneyCodec, tag: "has space" })).toThrow(/not valid/);
    expect(() =>
      registerCodec({ tag: "Broken", test: () => true, encode: () => 1 } as unknown as typeof moneyCodec),
    ).toThrow(/no decode\(\) function/);
  });

  it("unregisters codecs, after which their tag no longer decodes", () => {
    registerCodec(moneyCodec);
    const encoded = encodeValue(new Money(1n, "EUR"));
    expect(unregisterCodec("Money")).toBe(true);
    expect(unregisterCodec("Money")).toBe(false);
    expect(() => decodeValue(encoded)).toThrow(/unknown tag "Money"/);
  });

  it("wraps a codec's own errors in a PayloadError with the path", () => {
    registerCodec({
      tag: "Broken",
      test: (value: unknown) => value instanceof Money,
      encode: () => {
        throw new Error("boom");
      },
      decode: () => null,
    });
    const error = payloadError(() => encodeArgs([[new Money(1n, "EUR")]]));
    expect(error.path).toBe("args[0][0]");
    expect(error.message).toMatch(/codec "Broken" failed in encode\(\): boom/);
  });

  it("does not consult codecs for plain objects or built-in types", () => {
    registerCodec({ tag: "Broken", test: () => true, encode: () => "hijacked", decode: () => null });
    expect(encodeValue({ a: new Date(0), b: [1] })).toStrictEqual({
      a: { $reproq: "Date", v: "1970-01-01T00:00:00.000Z" },
      b: [1],
    });
  });
});

describe("size limit", () => {
  it("returns the UTF-8 byte size of the encoded JSON", () => {
    expect(encodePayload("é")).toStrictEqual({ json: "é", bytes: 4 });
    expect(encodeArgsPayload([1n])).toStrictEqual({ json: [{ $reproq: "BigInt", v: "1" }], bytes: 30 });
    expect(DEFAULT_MAX_PAYLOAD_BYTES).toBe(1024 * 1024);
  });

  it("rejects payloads over the limit with the documented message", () => {
    const error = payloadError(() =>
      encodePayload({ text: "x".repeat(100) }, { path: "args[0]", maxBytes: 50 }),
    );
    expect(error.path).toBe("args[0]");
    expect(error.message).toBe(
      "args[0]: encoded payload is 111 bytes, over the limit of 50 bytes; raise maxPayloadBytes or pass a reference (e.g. an id) instead",
    );
    expect(payloadError(() => encodeArgsPayload(["€".repeat(10)], { maxBytes: 31 })).path).toBe("args");
    expect(encodeArgsPayload(["€".repeat(10)], { maxBytes: 34 }).bytes).toBe(34);
  });

  it("rejects a limit that is not a positive integer", () => {
    expect(() => checkPayloadSize(1, "value", 0)).toThrow(InvalidInputError);
    expect(() => encodePayload(1, { maxBytes: 1.5 })).toThrow(/maxPayloadBytes/);
  });
});

// ---------------------------------------------------------------------------------------------
// Property-based: any deep structure of supported values survives JSON text exactly.

const storableString = fc.string({ unit: "binary", maxLength: 12 }).filter((s) => !s.includes("\u0000"));
const objectKey = fc.oneof(
  storableString,
  fc.constantFrom("$reproq", "v", "__proto__", "constructor", "toJSON", "0", "-0", ""),
);
const leaf = fc.oneof(
  fc.constant(null),
  fc.constant(undefined),
  fc.boolean(),
  fc.integer(),
  fc.double(),
  fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0, 0, Number.MIN_VALUE),
  storableString,
  fc.bigInt(),
  fc.date(),
  fc.uint8Array({ maxLength: 12 }),
  fc.uint8Array({ maxLength: 12 }).map((bytes) => Buffer.from(bytes)),
  fc.constantFrom("Date", "Undefined", "Number", "Object").map((tag) => ({ $reproq: tag })),
);
const { value: anyValue } = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    leaf,
    tie("array"),
    tie("object"),
    tie("map"),
    tie("set"),
  ),
  array: fc.array(tie("value"), { maxLength: 5 }),
  object: fc.dictionary(objectKey, tie("value"), { maxKeys: 5, noNullPrototype: true }),
  map: fc.array(fc.tuple(tie("value"), tie("value")), { maxLength: 4 }).map((entries) => new Map(entries)),
  set: fc.array(tie("value"), { maxLength: 4 }).map((members) => new Set(members)),
}));

describe("property: round trips", () => {
  it("decode(JSON.parse(JSON.stringify(encode(x)))) is strictly equal to x", () => {
    fc.assert(
      fc.property(anyValue, (value) => {
        expect(difference(throughJson(value), value)).toBeNull();
      }),
      { numRuns: 500 },
    );
  });

  it("encoded output is JSON-stable and contains only JSON", () => {
    fc.assert(
      fc.property(anyValue, (value) => {
        const encoded = encodeValue(value);
        const text = JSON.stringify(encoded);
        expect(JSON.stringify(JSON.parse(text))).toBe(text);
        // difference(), not toStrictEqual: the latter compares own "constructor" keys as types.
        expect(difference(JSON.parse(text), encoded)).toBeNull();
        // Valid RFC 8785 input too: no undefined, NaN, Infinity or class instances slipped through.
        expect(() => canonicalJson(encoded)).not.toThrow();
      }),
      { numRuns: 300 },
    );
  });

  it("encoding is a fixed point: encode(decode(encode(x))) equals encode(x)", () => {
    fc.assert(
      fc.property(anyValue, (value) => {
        const encoded = encodeValue(value);
        // Same text, so also the same key and entry order.
        expect(JSON.stringify(encodeValue(decodeValue(encoded)))).toBe(JSON.stringify(encoded));
      }),
      { numRuns: 300 },
    );
  });

  it("argument lists round-trip through encodeArgs/decodeArgs", () => {
    fc.assert(
      fc.property(fc.array(anyValue, { maxLength: 4 }), (args) => {
        const json = JSON.parse(JSON.stringify(encodeArgs(args))) as JsonValue;
        expect(difference(decodeArgs(json), args)).toBeNull();
      }),
      { numRuns: 200 },
    );
  });
});
