/**
 * Canonical JSON and spec_hash: the shared vectors, key-order independence and which fields count.
 */
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalJson, sha256Hex } from "../../src/codec/canonical.js";
import { type BuildSpecInput, buildSpec, type RunSpec, specHash } from "../../src/codec/spec.js";
import type { JsonValue } from "../../src/codec/tagged.js";
import { InvalidInputError, PayloadError } from "../../src/errors.js";

interface Vector {
  name: string;
  legacy?: boolean;
  spec: JsonValue;
  canonical: string;
  sha256: string;
}

const vectors = JSON.parse(
  readFileSync(new URL("../vectors/spec-hash.json", import.meta.url), "utf8"),
) as Vector[];

function vector(name: string): Vector {
  const found = vectors.find((v) => v.name === name);
  if (!found) throw new Error(`no vector ${name}`);
  return found;
}

describe("test vectors", () => {
  it("cover the required cases", () => {
    expect(vectors.map((v) => v.name)).toEqual(
      expect.arrayContaining([
        "minimal",
        "all-fields",
        "unicode",
        "numbers",
        "tagged-args",
        "workflow-step",
        "legacy-reference",
      ]),
    );
  });

  for (const v of vectors) {
    it(`${v.name}: canonicalJson and sha256 reproduce the vector`, () => {
      expect(canonicalJson(v.spec)).toBe(v.canonical);
      expect(sha256Hex(v.canonical)).toBe(v.sha256);
      expect(createHash("sha256").update(Buffer.from(v.canonical, "utf8")).digest("hex")).toBe(v.sha256);
      expect(JSON.parse(v.canonical)).toStrictEqual(v.spec);
      if (!v.legacy) {
        expect(specHash(v.spec as unknown as RunSpec)).toStrictEqual({
          canonical: v.canonical,
          hash: v.sha256,
        });
      }
    });
  }

  it("keeps the reference system's vector as a regression", () => {
    const legacy = vector("legacy-reference");
    expect(legacy.legacy).toBe(true);
    expect(legacy.sha256).toBe("2d6721014757fa10799d528b6b15aee6c76a841b9ea74e187875f4abfcdbedd5");
  });

  it("buildSpec produces the vector specs from camelCase input", () => {
    const inputs: Record<string, BuildSpecInput> = {
      minimal: { taskPath: "emails.send_welcome" },
      "all-fields": {
        taskPath: "billing.charge_card",
        args: [42, "acct_1", { currency: "EUR", amount: "12.34" }],
        queueName: "payments",
        priority: 10,
        lockKey: "account:42",
        concurrencyKey: "card:7",
        concurrencyLimit: 3,
        runAfter: new Date("2025-01-01T12:00:00Z"),
      },
      "tagged-args": {
        taskPath: "reports.build",
        args: [
          new Date("2025-01-01T00:00:00.000Z"),
          12345678901234567890n,
          new Map<unknown, unknown>([
            ["a", 1],
            [new Date(0), new Set([1n, -2n])],
          ]),
          { $reproq: "user data", v: [undefined, null] },
          Number.NaN,
          -0,
          Number.NEGATIVE_INFINITY,
          new Uint8Array([1, 2, 3, 255]),
          Buffer.from("hi"),
          new Date(Number.NaN),
          undefined,
        ],
      },
      "workflow-step": {
        taskPath: "orders.ship",
        args: [{ order_id: 1001 }],
        lockKey: "order:1001",
        workflow: { id: "wf_2f1c9e", step: 2 },
      },
    };
    for (const [name, input] of Object.entries(inputs)) {
      const v = vector(name);
      const spec = buildSpec(input);
      expect(spec).toStrictEqual(v.spec);
      expect(specHash(spec).hash).toBe(v.sha256);
    }
  });
});

describe("canonicalJson", () => {
  it("matches the RFC 8785 sample output", () => {
    const input = JSON.parse(
      '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001], "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/", "literals": [null, true, false]}',
    ) as JsonValue;
    expect(canonicalJson(input)).toBe(
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    );
  });

  it("sorts keys by UTF-16 code units, not code points", () => {
    // U+1F600 is the surrogate pair D83D DE00, which sorts before U+FB33 in UTF-16.
    expect(canonicalJson({ "\ufb33": 1, "\u{1f600}": 2, a: 3 })).toBe('{"a":3,"\u{1f600}":2,"\ufb33":1}');
  });

  it("writes -0 as 0", () => {
    expect(canonicalJson([-0])).toBe("[0]");
  });

  const rejected: Array<[string, unknown]> = [
    ["NaN", Number.NaN],
    ["Infinity", [1, Number.POSITIVE_INFINITY]],
    ["-Infinity", { a: Number.NEGATIVE_INFINITY }],
    ["undefined at top level", undefined],
    ["an undefined property", { a: undefined }],
    ["an undefined element", [undefined]],
    // biome-ignore lint/suspicious/noSparseArray: holes are not JSON either
    ["an array hole", [1, , 2]],
    ["a Date", { at: new Date(0) }],
    ["a bigint", 1n],
    ["a function", { f: () => 1 }],
    ["a lone surrogate", "\ud800"],
  ];
  for (const [name, value] of rejected) {
    it(`rejects ${name} with InvalidInputError`, () => {
      expect(() => canonicalJson(value as JsonValue)).toThrow(InvalidInputError);
    });
  }

  it("names where the non-JSON value is", () => {
    expect(() => canonicalJson({ a: [1, { b: Number.NaN }] })).toThrow('$["a"][1]["b"] is NaN');
  });
});

describe("sha256Hex", () => {
  it("hashes UTF-8 bytes to lowercase hex", () => {
    expect(sha256Hex("")).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    expect(sha256Hex("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    expect(sha256Hex("é")).toBe(
      createHash("sha256")
        .update(Buffer.from([0xc3, 0xa9]))
        .digest("hex"),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Property: the canonical form depends only on the data, never on key insertion order.

/** Rebuilds every object with its keys in an order drawn from `order`. */
function reorder(value: JsonValue, order: () => number): JsonValue {
  if (Array.isArray(value)) return value.map((item) => reorder(item, order));
  if (value === null || typeof value !== "object") return value;
  const keys = Object.keys(value).sort(() => order() - 0.5);
  const out: { [k: string]: JsonValue } = {};
  for (const key of keys) {
    Object.defineProperty(out, key, {
      value: reorder(value[key] as JsonValue, order),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

/** A small deterministic PRNG, so a failing case shrinks and replays. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const jsonValue = fc.jsonValue({ stringUnit: "binary", maxDepth: 5 }) as fc.Arbitrary<JsonValue>;

describe("property: canonical JSON", () => {
  it("is independent of key insertion order", () => {
    fc.assert(
      fc.property(jsonValue, fc.integer(), (value, seed) => {
        expect(canonicalJson(reorder(value, prng(seed)))).toBe(canonicalJson(value));
      }),
      { numRuns: 300 },
    );
  });

  it("parses back to the same data", () => {
    fc.assert(
      fc.property(jsonValue, (value) => {
        // JSON.stringify/parse only normalises -0 to 0, which JCS does too.
        // toEqual, not toStrictEqual, which would read an own "constructor" key as a type.
        expect(JSON.parse(canonicalJson(value))).toEqual(JSON.parse(JSON.stringify(value)));
      }),
      { numRuns: 300 },
    );
  });
});

// ---------------------------------------------------------------------------------------------

describe("specHash identity", () => {
  const base: BuildSpecInput = {
    taskPath: "billing.charge_card",
    args: [42, { currency: "EUR" }],
    queueName: "payments",
    priority: 1,
    lockKey: "account:42",
    concurrencyKey: "card:7",
    concurrencyLimit: 2,
  };
  const hashOf = (input: BuildSpecInput): string => specHash(buildSpec(input)).hash;

  it("ignores a relative run_after and counts an absolute one", () => {
    const none = hashOf(base);
    expect(hashOf({ ...base, runAfter: 5000 })).toBe(none);
    expect(hashOf({ ...base, runAfter: "10m" })).toBe(none);
    expect(hashOf({ ...base, runAfter: null })).toBe(none);
    expect(buildSpec({ ...base, runAfter: "10m" }).run_after).toBeNull();

    const at = new Date("2025-01-01T12:00:00Z");
    const absolute = hashOf({ ...base, runAfter: at });
    expect(absolute).not.toBe(none);
    expect(buildSpec({ ...base, runAfter: at }).run_after).toBe("2025-01-01T12:00:00.000Z");
    expect(hashOf({ ...base, runAfter: new Date(at.getTime() + 1) })).not.toBe(absolute);
  });

  it("changes when any identity field changes", () => {
    const variants: Array<[string, BuildSpecInput]> = [
      ["taskPath", { ...base, taskPath: "billing.refund" }],
      ["args value", { ...base, args: [43, { currency: "EUR" }] }],
      ["args nested value", { ...base, args: [42, { currency: "USD" }] }],
      ["args type", { ...base, args: ["42", { currency: "EUR" }] }],
      ["args bigint", { ...base, args: [42n, { currency: "EUR" }] }],
      ["args length", { ...base, args: [42, { currency: "EUR" }, undefined] }],
      ["queueName", { ...base, queueName: "default" }],
      ["priority", { ...base, priority: 2 }],
      ["lockKey", { ...base, lockKey: "account:43" }],
      ["lockKey null", { ...base, lockKey: null }],
      ["concurrencyKey", { ...base, concurrencyKey: "card:8" }],
      ["concurrencyKey null", { ...base, concurrencyKey: null }],
      ["concurrencyLimit", { ...base, concurrencyLimit: 3 }],
      ["runAfter", { ...base, runAfter: new Date(0) }],
      ["workflow", { ...base, workflow: { id: "wf_1", step: 0 } }],
    ];
    const hashes = new Map<string, string>([["base", hashOf(base)]]);
    for (const [name, input] of variants) hashes.set(name, hashOf(input));
    expect(new Set(hashes.values()).size).toBe(hashes.size);
    expect(hashOf({ ...base, workflow: { id: "wf_1", step: 1 } })).not.toBe(hashes.get("workflow"));
    expect(hashOf({ ...base, workflow: { id: "wf_2", step: 0 } })).not.toBe(hashes.get("workflow"));
  });

  it("is stable for equal input built separately", () => {
    expect(hashOf({ ...base, args: [42, { currency: "EUR" }] })).toBe(hashOf(base));
  });

  it("holds only identity fields; provenance and exec settings are not part of it", () => {
    expect(Object.keys(buildSpec(base)).sort()).toEqual([
      "args",
      "concurrency_key",
      "concurrency_limit",
      "lock_key",
      "priority",
      "queue_name",
      "run_after",
      "task_path",
      "v",
    ]);
    expect(buildSpec({ ...base, workflow: { id: "w", step: 0 } }).workflow).toEqual({ id: "w", step: 0 });
    expect("workflow" in buildSpec({ ...base, workflow: null })).toBe(false);
  });
});

describe("buildSpec validation", () => {
  const cases: Array<[string, BuildSpecInput, RegExp]> = [
    ["an empty taskPath", { taskPath: "" }, /taskPath: expected a non-empty string/],
    ["an empty queueName", { taskPath: "t", queueName: " " }, /queueName/],
    ["a fractional priority", { taskPath: "t", priority: 1.5 }, /priority: expected an integer/],
    [
      "a negative concurrencyLimit",
      { taskPath: "t", concurrencyLimit: -1 },
      /concurrencyLimit: expected an integer >= 0/,
    ],
    ["an empty lockKey", { taskPath: "t", lockKey: "" }, /lockKey/],
    ["an invalid Date", { taskPath: "t", runAfter: new Date(Number.NaN) }, /runAfter: the Date is invalid/],
    ["a malformed delay", { taskPath: "t", runAfter: "soon" }, /runAfter/],
    ["an absolute time as a string", { taskPath: "t", runAfter: "2025-01-01T00:00:00Z" }, /runAfter/],
    ["a negative workflow step", { taskPath: "t", workflow: { id: "w", step: -1 } }, /workflow.step/],
  ];
  for (const [name, input, message] of cases) {
    it(`rejects ${name}`, () => {
      expect(() => buildSpec(input)).toThrow(InvalidInputError);
      expect(() => buildSpec(input)).toThrow(message);
    });
  }

  it("reports argument problems as PayloadError with the argument path", () => {
    expect(() => buildSpec({ taskPath: "t", args: [1, { f: () => 1 }] })).toThrow(PayloadError);
    expect(() => buildSpec({ taskPath: "t", args: [1, { f: () => 1 }] })).toThrow(/^args\[1\]\.f:/);
  });

  it("enforces maxPayloadBytes on the encoded args when given", () => {
    expect(() => buildSpec({ taskPath: "t", args: ["x".repeat(100)], maxPayloadBytes: 50 })).toThrow(
      /^args: encoded payload is 104 bytes, over the limit of 50 bytes/,
    );
    expect(buildSpec({ taskPath: "t", args: ["x".repeat(100)], maxPayloadBytes: 104 }).args).toHaveLength(1);
  });
});
