/**
 * The manager API's JWTs: HS256, issuer "reproq", audience "reproq-api", an exp claim always, and
 * a scope ("read" or "admin"). The signing key is never the bearer token itself: it is jwtSecret,
 * or else a key derived from metricsAuthToken with HKDF-SHA256 under a fixed info string, so a
 * token signed with the raw bearer token does not verify. jwtPreviousSecrets verify only (key
 * rotation). See docs/observability.md.
 */
import { hkdfSync, randomBytes } from "node:crypto";
import { jwtVerify, SignJWT } from "jose";
import type { ReproqConfig } from "../config/schema.js";
import { ConfigError } from "../errors.js";

export type Scope = "read" | "admin";

export const SCOPES: readonly Scope[] = ["read", "admin"];
export const JWT_ISSUER = "reproq";
export const JWT_AUDIENCE = "reproq-api";
/** Fixed: changing it invalidates every JWT derived from a bearer token. */
const HKDF_INFO = "reproq manager api jwt signing key v1";

export type TokenKeyConfig = Pick<ReproqConfig, "metricsAuthToken" | "jwtSecret" | "jwtPreviousSecrets">;

export interface TokenKeys {
  /** Signs new tokens; null when neither jwtSecret nor metricsAuthToken is set. */
  signing: Uint8Array | null;
  /** Checked in order: the signing key, then each previous secret. */
  verifying: readonly Uint8Array[];
}

const utf8 = (text: string) => new TextEncoder().encode(text);

/** The HS256 key derived from a bearer token: HKDF-SHA256, empty salt, fixed info, 32 bytes. */
export function deriveJwtKey(bearerToken: string): Uint8Array {
  return new Uint8Array(hkdfSync("sha256", utf8(bearerToken), new Uint8Array(0), utf8(HKDF_INFO), 32));
}

export function tokenKeys(config: TokenKeyConfig): TokenKeys {
  const { jwtSecret, metricsAuthToken, jwtPreviousSecrets } = config;
  if (jwtSecret !== undefined && jwtSecret === metricsAuthToken)
    throw new ConfigError(
      "jwtSecret must differ from metricsAuthToken: the bearer token must never sign JWTs (leave jwtSecret unset to derive a key from it)",
    );
  const signing = jwtSecret ? utf8(jwtSecret) : metricsAuthToken ? deriveJwtKey(metricsAuthToken) : null;
  const previous = (jwtPreviousSecrets ?? []).map(utf8);
  return { signing, verifying: signing ? [signing, ...previous] : previous };
}

export interface IssuedToken {
  token: string;
  scope: Scope;
  expiresAt: Date;
}

/** Signs a token with the current key; a ConfigError when there is none. */
export async function issueToken(keys: TokenKeys, scope: Scope, ttlMs: number): Promise<IssuedToken> {
  if (!keys.signing)
    throw new ConfigError(
      "no key to sign a JWT: set jwtSecret (REPROQ_JWT_SECRET) or metricsAuthToken (METRICS_AUTH_TOKEN)",
    );
  const now = Math.floor(Date.now() / 1000);
  const exp = now + Math.max(1, Math.round(ttlMs / 1000));
  const token = await new SignJWT({ scope })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuer(JWT_ISSUER)
    .setAudience(JWT_AUDIENCE)
    .setIssuedAt(now)
    .setExpirationTime(exp)
    .setJti(randomBytes(8).toString("hex"))
    .sign(keys.signing);
  return { token, scope, expiresAt: new Date(exp * 1000) };
}

/**
 * The scope a token grants, or null: a bad signature under every key, another issuer or audience,
 * no exp or an expired one, another algorithm, or an unknown scope. Never says which.
 */
export async function verifyToken(keys: TokenKeys, token: string): Promise<Scope | null> {
  for (const key of keys.verifying) {
    try {
      const { payload } = await jwtVerify(token, key, {
        algorithms: ["HS256"],
        issuer: JWT_ISSUER,
        audience: JWT_AUDIENCE,
        requiredClaims: ["exp"],
      });
      const scope = payload.scope;
      return scope === "read" || scope === "admin" ? scope : null;
    } catch (error) {
      // Only a signature mismatch is worth trying the next key for; anything else fails the same under all.
      if ((error as { code?: string }).code !== "ERR_JWS_SIGNATURE_VERIFICATION_FAILED") return null;
    }
  }
  return null;
}

export function isScope(value: string): value is Scope {
  return (SCOPES as readonly string[]).includes(value);
}

/** Whether a granted scope covers the needed one (admin covers read). */
export function covers(granted: Scope, needed: Scope): boolean {
  return granted === "admin" || needed === "read";
}
