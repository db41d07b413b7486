/** The pairing state's pure pieces with an explicit clock: codes, single-use tokens, expiry, CSRF, buckets, cookies. */
import { describe, expect, it } from "vitest";
import {
  CODE_PATTERN,
  PAIR_TTL_MS,
  PairingState,
  parseCookies,
  RateLimiter,
  SESSION_TTL_MS,
} from "../../src/http/pairing.js";

const token = { token: "jwt", expiresAt: new Date(0) };

describe("PairingState", () => {
  it("makes distinct codes from the unambiguous alphabet, pending until they expire", () => {
    const state = new PairingState();
    const codes = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const pair = state.create(1000);
      expect(pair?.code).toMatch(CODE_PATTERN);
      expect(pair?.code).not.toMatch(/[01OIL]/);
      codes.add(pair?.code ?? "");
    }
    expect(codes.size).toBe(200);
    const [code] = codes;
    expect(state.poll(code ?? "", 1000 + PAIR_TTL_MS - 1)).toEqual({ status: "pending" });
    expect(state.poll(code ?? "", 1000 + PAIR_TTL_MS)).toEqual({ status: "expired" });
  });

  it("hands an approved token out once and settles a code only while pending", () => {
    const state = new PairingState();
    const code = state.create(0)?.code ?? "";
    expect(state.settle(code, token, 1)).toBe(true);
    expect(state.settle(code, "denied", 2)).toBe(false);
    expect(state.poll(code, 3)).toEqual({ status: "approved", ...token });
    expect(state.poll(code, 4)).toEqual({ status: "consumed" });
    const denied = state.create(0)?.code ?? "";
    expect(state.settle(denied, "denied", 1)).toBe(true);
    expect(state.poll(denied, 2)).toEqual({ status: "denied" });
    expect(state.settle("ABCDEFGH", token, 1)).toBe(false);
  });

  it("binds a CSRF token to the code and the browser cookie", () => {
    const state = new PairingState();
    const csrf = state.csrfToken("ABCDEFGH", "browser-1");
    expect(state.csrfMatches("ABCDEFGH", "browser-1", csrf)).toBe(true);
    expect(state.csrfMatches("ABCDEFGJ", "browser-1", csrf)).toBe(false);
    expect(state.csrfMatches("ABCDEFGH", "browser-2", csrf)).toBe(false);
    expect(state.csrfMatches("ABCDEFGH", undefined, csrf)).toBe(false);
    expect(state.csrfMatches("ABCDEFGH", "browser-1", undefined)).toBe(false);
    expect(new PairingState().csrfMatches("ABCDEFGH", "browser-1", csrf)).toBe(false);
  });

  it("keeps a login session for its lifetime only", () => {
    const state = new PairingState();
    const id = state.openSession(0) ?? "";
    expect(state.hasSession(id, SESSION_TTL_MS - 1)).toBe(true);
    expect(state.hasSession(id, SESSION_TTL_MS)).toBe(false);
    expect(state.hasSession("forged", 1)).toBe(false);
    expect(state.hasSession(undefined, 1)).toBe(false);
  });
});

describe("RateLimiter", () => {
  it("allows the capacity at once, then refills at capacity per minute, per client", () => {
    const limiter = new RateLimiter(10);
    for (let i = 0; i < 10; i++) expect(limiter.take("a", 0).ok).toBe(true);
    expect(limiter.take("a", 0)).toEqual({ ok: false, retryAfterS: 6 });
    expect(limiter.take("b", 0).ok).toBe(true);
    expect(limiter.take("a", 6000).ok).toBe(true);
    expect(limiter.take("a", 6000).ok).toBe(false);
  });
});

describe("parseCookies", () => {
  it("reads name=value pairs, the first of a name winning", () => {
    const cookies = parseCookies("a=1; b=two=2;a=3; junk");
    expect([...cookies]).toEqual([
      ["a", "1"],
      ["b", "two=2"],
    ]);
    expect(parseCookies(undefined).size).toBe(0);
  });
});
