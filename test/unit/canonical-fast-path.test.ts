/**
 * The fast canonical writer and the direct spec text used by enqueue must give exactly the bytes of
 * the reference path (canonicalize() after the JSON check, and specHash(buildSpec(...))), and fail
 * with exactly its errors.
 */
import canonicalize from "canonicalize";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalJson } from "../../src/codec/canonical.js";
import { buildSpec, specHash } from "../../src/codec/spec.js";
import { encodeArgs, type JsonValue } from "../../src/codec/tagged.js";
import { type ResolveConfig, resolveBase, resolveRun, resolveWithBase } from "../../src/resolve-run.js";
import { task } from "../../src/task.js";

const config: ResolveConfig = {
  defaultQueue: "default",
  allowedQueues: undefined,
  maxAttempts: 3,
  timeoutSeconds: 900,
  expiresIn: undefined,
  maxPayloadBytes: 1_048_576,
};

const jsonValue = fc.jsonValue({ stringUnit: "binary", maxDepth: 5 }) as fc.Arbitrary<JsonValue>;

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    return `${(error as Error).name}: ${(error as Error).message}`;
  }
  return "no error";
}

describe("canonicalJson fast path", () => {
  it("writes the same text as canonicalize() for any JSON", () => {
    fc.assert(
      fc.property(jsonValue, (value) => {
        expect(canonicalJson(value)).toBe(canonicalize(value));
      }),
      { numRuns: 500 },
    );
  });

  it("sorts keys by UTF-16 code units, including astral and __proto__ keys", () => {
    const value = JSON.parse('{"\\ud83d\\ude00":1,"\\uffff":2,"b":3,"a":4,"__proto__":5,"":6}') as JsonValue;
    expect(canonicalJson(value)).toBe(canonicalize(value));
    expect(canonicalJson(value)).toBe('{"":6,"__proto__":5,"a":4,"b":3,"😀":1,"￿":2}');
  });

  it("reports what the checked path reports, path included", () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    const deep: unknown[] = [];
    let cursor = deep;
    for (let i = 0; i < 300; i++) {
      const next: unknown[] = [];
      cursor.push(next);
      cursor = next;
    }
    const cases: Array<[unknown, RegExp]> = [
      [{ a: [1, Number.NaN] }, /\$\["a"\]\[1\] is NaN/],
      [{ a: "x\ud800" }, /\$\["a"\] is a string with a lone surrogate/],
      [{ "\udc00": 1 }, /\$ is a key with a lone surrogate/],
      [{ a: undefined }, /\$\["a"\] is undefined/],
      [new Array(3).fill(1, 0, 1), /\$\[1\] is undefined/],
      [{ d: new Date(0) }, /\$\["d"\] is a class instance/],
      [cyclic, /\$\["self"\] is a circular reference/],
      [{ f: () => 1 }, /\$\["f"\] is function/],
    ];
    for (const [value, message] of cases) {
      expect(errorOf(() => canonicalJson(value as JsonValue))).toMatch(message);
    }
    // Deeper than the fast path goes: the checked path writes it.
    expect(canonicalJson(deep as JsonValue)).toBe(canonicalize(deep));
  });
});

describe("spec text written directly", () => {
  const plain = task("fast.plain", async (..._args: unknown[]) => null);
  const keyed = task(
    "fast.keyed",
    {
      queue: "q-1",
      priority: -7,
      lockKey: (...args: unknown[]) => `lock:${String(args[0])}`,
      concurrency: { key: (...args: unknown[]) => ` conc ${String(args[0])} `, limit: 3 },
    },
    async (..._args: unknown[]) => null,
  );

  const options = fc.record(
    {
      queue: fc.constantFrom("default", "other", "ünï"),
      priority: fc.integer({ min: -100, max: 100 }),
      runAfter: fc.oneof(
        fc.date({ min: new Date(0), max: new Date("2200-01-01T00:00:00Z"), noInvalidDate: true }),
        fc.constantFrom("10m", 1500),
      ),
      lockKey: fc.string({ unit: "grapheme", maxLength: 8 }),
      concurrencyKey: fc.string({ maxLength: 5 }),
      concurrencyLimit: fc.integer({ min: 0, max: 50 }),
    },
    { requiredKeys: [] },
  );
  // U+0000 cannot be stored in JSONB, so enqueue rejects it (a PayloadError): not a spec to compare.
  const storable = jsonValue.filter((value) => !JSON.stringify(value).includes("\\u0000"));
  const args = fc.array(fc.oneof(storable, fc.date({ noInvalidDate: true }), fc.bigInt()), { maxLength: 4 });
  const workflow = fc.option(fc.record({ id: fc.uuid(), step: fc.nat(1000) }), { nil: undefined });

  it("is the canonical text and hash of buildSpec for any arguments and options", () => {
    fc.assert(
      fc.property(fc.constantFrom(plain, keyed), args, options, workflow, (definition, list, opts, wf) => {
        const run = resolveRun(definition, list, opts, config, "t", wf);
        expect(run.canonical).toBe(specHash(run.spec).canonical);
        expect(run.hash).toBe(specHash(run.spec).hash);
        // buildSpec from the resolved fields (args raw) agrees as well.
        const rebuilt = buildSpec({
          taskPath: definition.name,
          args: list,
          queueName: run.queue,
          priority: run.priority,
          lockKey: run.lockKey,
          concurrencyKey: run.concurrencyKey,
          concurrencyLimit: run.concurrencyLimit,
          runAfter: run.runAt,
          workflow: wf ?? null,
        });
        expect(specHash(rebuilt).canonical).toBe(run.canonical);
        expect(specHash(rebuilt).hash).toBe(run.hash);
      }),
      { numRuns: 300 },
    );
  });

  it("reuses a base across runs with different keys and workflow steps without mixing them up", () => {
    const base = resolveBase(keyed, {}, config, "t");
    const seen = [1, 2, 1, 3].map((n, step) =>
      resolveWithBase(base, [n], "t", { id: "00000000-0000-4000-8000-000000000000", step }, undefined),
    );
    for (const [i, row] of seen.entries()) {
      const spec = buildSpec({
        taskPath: keyed.name,
        args: [[1, 2, 1, 3][i]],
        queueName: "q-1",
        priority: -7,
        lockKey: row.lockKey,
        concurrencyKey: row.concurrencyKey,
        concurrencyLimit: row.concurrencyLimit,
        workflow: { id: "00000000-0000-4000-8000-000000000000", step: i },
      });
      expect(row.canonical).toBe(specHash(spec).canonical);
    }
    expect(seen[1]!.concurrencyKey).toBe("conc 2");
  });

  it("fails like buildSpec + specHash for a key without a canonical form and for oversized args", () => {
    expect(errorOf(() => resolveRun(plain, [1], { lockKey: "a\ud800" }, config, "t"))).toBe(
      errorOf(() => specHash(buildSpec({ taskPath: "fast.plain", args: [1], lockKey: "a\ud800" }))),
    );
    const big = ["x".repeat(2000)];
    const small = { ...config, maxPayloadBytes: 1000 };
    expect(errorOf(() => resolveRun(plain, big, {}, small, "t"))).toBe(
      errorOf(() => buildSpec({ taskPath: "fast.plain", args: big, maxPayloadBytes: 1000 })),
    );
    // The size is that of JSON.stringify of the encoded arguments, to the byte.
    const exact = ["é".repeat(10), { b: 1, a: [true, null] }];
    const bytes = Buffer.byteLength(JSON.stringify(encodeArgs(exact)), "utf8");
    expect(() => resolveRun(plain, exact, {}, { ...config, maxPayloadBytes: bytes }, "t")).not.toThrow();
    expect(() => resolveRun(plain, exact, {}, { ...config, maxPayloadBytes: bytes - 1 }, "t")).toThrow(
      /over the limit/,
    );
  });
});

describe("keys", () => {
  it("calls only the task's own lockKey function, as before", () => {
    const byArgs = task(
      "fast.lock",
      { lockKey: (...args: unknown[]) => `k${String(args[0])}` },
      async (..._args: unknown[]) => null,
    );
    expect(resolveRun(byArgs, [3], {}, config, "t").lockKey).toBe("k3");
    expect(resolveRun(byArgs, [3], { lockKey: "given" }, config, "t").lockKey).toBe("given");
    const misuse = { lockKey: ((n: number) => `x${n}`) as unknown as string };
    expect(() => resolveRun(byArgs, [3], misuse, config, "t")).toThrow(
      /t: lockKey must be a string, got function/,
    );
  });
});
