/**
 * Who may read a worker's HTTP endpoints: a client address allow-list (IPv4 and IPv6 addresses
 * and CIDR ranges; IPv4-mapped IPv6 addresses count as IPv4) and a bearer token compared in
 * constant time. Pure functions, unit-tested without a server.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { BlockList, isIP, isIPv4 } from "node:net";
import { ConfigError } from "../errors.js";

/** `::ffff:10.1.2.3` and `::ffff:a01:203` are IPv4 clients on a dual-stack socket. */
const MAPPED_DOTTED = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i;
const MAPPED_HEX = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i;

/** The address as the allow-list sees it: IPv4-mapped IPv6 becomes IPv4, a zone suffix is dropped. */
export function normalizeAddress(address: string): string {
  const bare = address.replace(/%.*$/, "");
  const dotted = MAPPED_DOTTED.exec(bare);
  if (dotted?.[1] && isIPv4(dotted[1])) return dotted[1];
  const hex = MAPPED_HEX.exec(bare);
  if (hex?.[1] && hex[2]) {
    const high = Number.parseInt(hex[1], 16);
    const low = Number.parseInt(hex[2], 16);
    return [high >> 8, high & 255, low >> 8, low & 255].join(".");
  }
  return bare;
}

/** Builds the matcher of an allow-list (`10.0.0.0/8`, `192.168.1.5`, `fd00::/8`, `::1`, `localhost`); throws ConfigError on a bad entry. */
export function parseAllowList(entries: readonly string[]): (address: string) => boolean {
  const list = new BlockList();
  for (const raw of entries) {
    const entry = raw.trim();
    if (entry.toLowerCase() === "localhost") {
      list.addSubnet("127.0.0.0", 8, "ipv4");
      list.addAddress("::1", "ipv6");
      continue;
    }
    const slash = entry.indexOf("/");
    const address = normalizeAddress(slash < 0 ? entry : entry.slice(0, slash));
    const family = isIP(address);
    if (family === 0) throw badEntry(raw, "not an IP address");
    const max = family === 4 ? 32 : 128;
    let prefix = max;
    if (slash >= 0) {
      const text = entry.slice(slash + 1);
      if (!/^\d{1,3}$/.test(text)) throw badEntry(raw, "the prefix length is not a number");
      prefix = Number(text);
    }
    // An IPv4-mapped range written in IPv6 (::ffff:10.0.0.0/104) is the IPv4 range it maps.
    const mapped = family === 4 && entry.slice(0, slash < 0 ? undefined : slash).includes(":");
    if (mapped && slash >= 0) prefix -= 96;
    if (prefix < 0 || prefix > max) throw badEntry(raw, `the prefix length must be 0 to ${max}`);
    list.addSubnet(address, prefix, family === 4 ? "ipv4" : "ipv6");
  }
  return (address: string) => {
    const client = normalizeAddress(address);
    const family = isIP(client);
    if (family === 0) return false;
    return list.check(client, family === 4 ? "ipv4" : "ipv6");
  };
}

function badEntry(entry: string, why: string): ConfigError {
  return new ConfigError(`metricsAllowCidrs: "${entry}" is not an IP address or CIDR range (${why})`);
}

const digest = (text: string) => createHash("sha256").update(text, "utf8").digest();

/**
 * Checks an Authorization header against the token in constant time: both sides are hashed
 * first, so neither the token's length nor a matching prefix changes how long the check takes.
 */
export function bearerMatches(header: string | undefined, expectedDigest: Buffer): boolean {
  return tokenMatches(bearerToken(header), expectedDigest);
}

/** The token of an `Authorization: Bearer <token>` header (scheme case-insensitive), or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = header === undefined ? null : /^bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  return match?.[1];
}

/** A token offered by a client against the expected one's digest, in constant time (see bearerMatches). */
export function tokenMatches(offered: string | undefined, expectedDigest: Buffer): boolean {
  return timingSafeEqual(digest(offered ?? ""), expectedDigest) && offered !== undefined;
}

export function tokenDigest(token: string): Buffer {
  return digest(token);
}

/** Loopback hosts: binding there without auth is fine; anywhere else earns a warning. */
export function isLoopbackHost(host: string): boolean {
  const bare = normalizeAddress(host.replace(/^\[|\]$/g, ""));
  return bare === "localhost" || bare === "::1" || /^127\.\d+\.\d+\.\d+$/.test(bare);
}

/** Splits `HOST:PORT` (`[::1]:9464`, `:9464` = every interface). */
export function parseListenAddress(addr: string): { host: string; port: number } {
  const colon = addr.lastIndexOf(":");
  const host = addr.slice(0, colon).replace(/^\[|\]$/g, "");
  const port = Number(addr.slice(colon + 1));
  if (colon < 0 || !Number.isInteger(port) || port < 0 || port > 65_535)
    throw new ConfigError(`metricsAddr: "${addr}" is not HOST:PORT (such as 127.0.0.1:9464)`);
  return { host, port };
}
