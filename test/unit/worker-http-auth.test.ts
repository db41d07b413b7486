import { describe, expect, it } from "vitest";
import {
  bearerMatches,
  bearerToken,
  isLoopbackHost,
  normalizeAddress,
  parseAllowList,
  parseListenAddress,
  tokenDigest,
  tokenMatches,
} from "../../src/http/auth.js";
import { taskLabel } from "../../src/http/metrics.js";
import { task } from "../../src/index.js";

describe("the allow-list matcher", () => {
  it("matches IPv4 addresses and ranges, and IPv4 clients on a dual-stack socket", () => {
    const allowed = parseAllowList(["10.0.0.0/8", "192.168.1.5"]);
    expect(allowed("10.20.30.40")).toBe(true);
    expect(allowed("::ffff:10.20.30.40")).toBe(true);
    expect(allowed("::ffff:a14:1e28")).toBe(true);
    expect(allowed("192.168.1.5")).toBe(true);
    expect(allowed("192.168.1.6")).toBe(false);
    expect(allowed("11.0.0.1")).toBe(false);
    expect(allowed("127.0.0.1")).toBe(false);
    expect(allowed("::1")).toBe(false);
    expect(allowed("not an address")).toBe(false);
  });

  it("matches IPv6 addresses and ranges, with or without a zone", () => {
    const allowed = parseAllowList(["fd00::/8", "2001:db8::1"]);
    expect(allowed("fd12:3456::1")).toBe(true);
    expect(allowed("fd12::1%eth0")).toBe(true);
    expect(allowed("fe80::1%eth0")).toBe(false);
    expect(allowed("2001:db8::1")).toBe(true);
    expect(allowed("2001:db8::2")).toBe(false);
    expect(allowed("10.0.0.1")).toBe(false);
  });

  it("reads IPv4-mapped ranges as the IPv4 range, and localhost as both loopbacks", () => {
    const mapped = parseAllowList(["::ffff:10.0.0.0/104"]);
    expect(mapped("10.9.9.9")).toBe(true);
    expect(mapped("11.0.0.0")).toBe(false);
    const local = parseAllowList(["localhost"]);
    expect(local("127.0.0.1")).toBe(true);
    expect(local("::ffff:127.0.0.1")).toBe(true);
    expect(local("::1")).toBe(true);
    expect(local("10.0.0.1")).toBe(false);
  });

  it("refuses entries that are not addresses or ranges, naming them", () => {
    expect(() => parseAllowList(["10.0.0.0/33"])).toThrow(/"10.0.0.0\/33".*0 to 32/);
    expect(() => parseAllowList(["fd00::/129"])).toThrow(/0 to 128/);
    expect(() => parseAllowList(["intranet"])).toThrow(/"intranet" is not an IP address/);
    expect(() => parseAllowList(["10.0.0.0/x"])).toThrow(/prefix length is not a number/);
  });

  it("normalizes mapped and zoned addresses", () => {
    expect(normalizeAddress("::ffff:127.0.0.1")).toBe("127.0.0.1");
    expect(normalizeAddress("::FFFF:7f00:1")).toBe("127.0.0.1");
    expect(normalizeAddress("fe80::1%lo")).toBe("fe80::1");
  });
});

describe("the bearer token check", () => {
  const expected = tokenDigest("s3cret");
  it("accepts the token, case-insensitive scheme, and nothing else", () => {
    expect(bearerMatches("Bearer s3cret", expected)).toBe(true);
    expect(bearerMatches("bearer s3cret", expected)).toBe(true);
    expect(bearerMatches(undefined, expected)).toBe(false);
    expect(bearerMatches("", expected)).toBe(false);
    expect(bearerMatches("Bearer s3cre", expected)).toBe(false);
    expect(bearerMatches("Bearer s3cret2", expected)).toBe(false);
    expect(bearerMatches("Basic s3cret", expected)).toBe(false);
    expect(bearerMatches("s3cret", expected)).toBe(false);
  });
});

describe("listen addresses", () => {
  it("splits HOST:PORT, bracketed IPv6 and an empty host", () => {
    expect(parseListenAddress("127.0.0.1:9464")).toEqual({ host: "127.0.0.1", port: 9464 });
    expect(parseListenAddress("[::1]:0")).toEqual({ host: "::1", port: 0 });
    expect(parseListenAddress(":9464")).toEqual({ host: "", port: 9464 });
    expect(() => parseListenAddress("localhost:99999")).toThrow(/not HOST:PORT/);
  });

  it("knows the loopback hosts", () => {
    for (const host of ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "::ffff:127.0.0.1"])
      expect(isLoopbackHost(host), host).toBe(true);
    for (const host of ["", "0.0.0.0", "::", "10.0.0.1", "example.com"])
      expect(isLoopbackHost(host), host).toBe(false);
  });
});

describe("task labels", () => {
  it("name registered tasks and fold every other name into other", () => {
    task("http-auth.registered", () => 1);
    expect(taskLabel("http-auth.registered")).toBe("http-auth.registered");
    expect(taskLabel("anything.a.producer.sent")).toBe("other");
  });
});

describe("offered tokens", () => {
  it("take the token of a Bearer header, and compare a bare token (X-Reproq-Token) the same way", () => {
    expect(bearerToken("Bearer abc")).toBe("abc");
    expect(bearerToken("bearer\tabc ")).toBe("abc");
    expect(bearerToken("Basic abc")).toBeUndefined();
    expect(bearerToken(undefined)).toBeUndefined();
    const expected = tokenDigest("s3cret");
    expect(tokenMatches("s3cret", expected)).toBe(true);
    expect(tokenMatches("s3cre", expected)).toBe(false);
    expect(tokenMatches(undefined, tokenDigest(""))).toBe(false);
  });
});
