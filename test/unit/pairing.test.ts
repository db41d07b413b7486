/** The pairing's pure pieces with an explicit clock: codes, sessions, CSRF tokens, buckets, cookies. */
import { describe, expect, it } from "vitest";
import {
  CODE_PATTERN,
  MAX_ENTRIES,
  newCode,
  PairingKeys,
  parseCookies,
  RateLimiter,
  SESSION_TTL_MS,
} from "../../src/http/pairing.js";

describe("codes", () => {
  it("are 8 characters of the unambiguous alphabet, and distinct", () => {
    const codes = new Set<string>();
    for (let i = 0; i < 500; i++) {
      const code = newCode();
      expect(code).toMatch(CODE_PATTERN);
      expect(code).not.toMatch(/[01OIL]/);
      codes.add(code);
    }
    expect(codes.size).toBe(500);
  });
});

describe("PairingKeys", () => {
  it("binds a CSRF token to the code, the browser cookie and the bearer token", () => {
    const keys = new PairingKeys("bearer-1");
    const csrf = keys.csrfToken("ABCDEFGH", "browser-1");
    expect(keys.csrfMatches("ABCDEFGH", "browser-1", csrf)).toBe(true);
    expect(new PairingKeys("bearer-1").csrfMatches("ABCDEFGH", "browser-1", csrf)).toBe(true);
    expect(keys.csrfMatches("ABCDEFGJ", "browser-1", csrf)).toBe(false);
    expect(keys.csrfMatches("ABCDEFGH", "browser-2", csrf)).toBe(false);
    expect(keys.csrfMatches("ABCDEFGH", undefined, csrf)).toBe(false);
    expect(keys.csrfMatches("ABCDEFGH", "browser-1", undefined)).toBe(false);
    expect(new PairingKeys("bearer-2").csrfMatches("ABCDEFGH", "browser-1", csrf)).toBe(false);
  });

  it("keeps a login session for its lifetime only, and refuses a forged or altered one", () => {
    const keys = new PairingKeys("bearer-1");
    const session = keys.openSession(0);
    expect(keys.hasSession(session, SESSION_TTL_MS - 1)).toBe(true);
    expect(keys.hasSession(session, SESSION_TTL_MS)).toBe(false);
    const [, tag] = session.split(".");
    expect(keys.hasSession(`${SESSION_TTL_MS * 10}.${tag}`, 1)).toBe(false);
    expect(keys.hasSession(`${session}.x`, 1)).toBe(false);
    expect(new PairingKeys("bearer-2").hasSession(session, 1)).toBe(false);
    expect(keys.hasSession(undefined, 1)).toBe(false);
    expect(keys.hasSession("forged", 1)).toBe(false);
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

  it("tracks at most MAX_ENTRIES clients, forgetting the least recently seen", () => {
    const limiter = new RateLimiter(1);
    expect(limiter.take("kept", 0).ok).toBe(true);
    for (let i = 0; i < MAX_ENTRIES * 3; i++) {
      limiter.take(`flood-${i}`, 0);
      if (i % 1000 === 0) limiter.take("kept", 0); // seen often: never the oldest
    }
    expect(limiter.size).toBe(MAX_ENTRIES);
    // "kept" is still tracked, with its bucket empty; the first flooders were forgotten.
    expect(limiter.take("kept", 0).ok).toBe(false);
    expect(limiter.take("flood-0", 0).ok).toBe(true);
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
