import { SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../src/errors.js";
import { deriveJwtKey, issueToken, tokenKeys, verifyToken } from "../../src/http/tokens.js";

const BEARER = "bearer-token-for-tests";
const utf8 = (text: string) => new TextEncoder().encode(text);

/** A token with the right claims, signed by whatever key the test means. */
function sign(key: Uint8Array, claims: Record<string, unknown> = {}, exp: number | null = 3600) {
  const jwt = new SignJWT({ scope: "read", iss: "reproq", aud: "reproq-api", ...claims })
    .setProtectedHeader({ alg: "HS256" })
    .setIssuedAt();
  if (exp !== null) jwt.setExpirationTime(Math.floor(Date.now() / 1000) + exp);
  return jwt.sign(key);
}

describe("manager API tokens", () => {
  it("issue and verify with the key derived from the bearer token, never the token itself", async () => {
    const keys = tokenKeys({ metricsAuthToken: BEARER });
    expect(Buffer.from(keys.signing ?? []).equals(Buffer.from(utf8(BEARER)))).toBe(false);
    expect(keys.signing).toEqual(deriveJwtKey(BEARER));
    const issued = await issueToken(keys, "admin", 60_000);
    expect(await verifyToken(keys, issued.token)).toBe("admin");
    expect(issued.expiresAt.getTime()).toBeGreaterThan(Date.now());
    expect(await verifyToken(keys, await sign(utf8(BEARER)))).toBeNull();
  });

  it("sign with jwtSecret and still accept the previous secrets", async () => {
    const old = "an-old-secret-of-enough-length";
    const keys = tokenKeys({
      metricsAuthToken: BEARER,
      jwtSecret: "the-new-secret-of-length",
      jwtPreviousSecrets: [old],
    });
    expect(await verifyToken(keys, await sign(utf8(old)))).toBe("read");
    expect(await verifyToken(keys, await sign(deriveJwtKey(BEARER)))).toBeNull();
    const issued = await issueToken(keys, "read", 60_000);
    expect(await verifyToken(tokenKeys({ jwtSecret: old }), issued.token)).toBeNull();
  });

  it("refuse an expired token, one without exp, another audience or issuer, and an unknown scope", async () => {
    const key = deriveJwtKey(BEARER);
    const keys = tokenKeys({ metricsAuthToken: BEARER });
    expect(await verifyToken(keys, await sign(key, {}, -120))).toBeNull();
    expect(await verifyToken(keys, await sign(key, {}, null))).toBeNull();
    expect(await verifyToken(keys, await sign(key, { aud: "reproq-tui" }))).toBeNull();
    expect(await verifyToken(keys, await sign(key, { iss: "reproq-django" }))).toBeNull();
    expect(await verifyToken(keys, await sign(key, { scope: "root" }))).toBeNull();
    expect(await verifyToken(keys, "not.a.jwt")).toBeNull();
    const hs512 = await new SignJWT({ scope: "read", iss: "reproq", aud: "reproq-api" })
      .setProtectedHeader({ alg: "HS512" })
      .setExpirationTime("10m")
      .sign(new Uint8Array(64).fill(7));
    expect(await verifyToken(tokenKeys({ jwtSecret: "x".repeat(64) }), hs512)).toBeNull();
    const unsigned = `${Buffer.from('{"alg":"none"}').toString("base64url")}.${Buffer.from(
      JSON.stringify({ scope: "admin", iss: "reproq", aud: "reproq-api", exp: 9_999_999_999 }),
    ).toString("base64url")}.`;
    expect(await verifyToken(keys, unsigned)).toBeNull();
  });

  it("refuse a jwtSecret equal to the bearer token, and signing without any key", async () => {
    expect(() => tokenKeys({ metricsAuthToken: BEARER, jwtSecret: BEARER })).toThrow(ConfigError);
    await expect(issueToken(tokenKeys({}), "read", 1000)).rejects.toThrow(/no key to sign/);
  });
});
