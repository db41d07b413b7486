/**
 * Device pairing for the TUI: codes (8 characters from an unambiguous alphabet, 10 minutes; their
 * state is in PostgreSQL, src/sql/tui-pairings.ts), the approver's login sessions and the approval
 * page's CSRF tokens (both HMACs under keys derived from metricsAuthToken, so every `reproq serve`
 * process accepts what another issued) and per-client token buckets (per process). See
 * docs/observability.md.
 */
import { createHmac, hkdfSync, randomInt, timingSafeEqual } from "node:crypto";

/** No 0/O, 1/I/L: a code read off a screen and typed is not mistyped. */
export const CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789";
export const CODE_LENGTH = 8;
export const CODE_PATTERN = new RegExp(`^[${CODE_ALPHABET}]{${CODE_LENGTH}}$`);
export const PAIR_TTL_MS = 10 * 60_000;
export const SESSION_TTL_MS = 15 * 60_000;
/** Live codes and rate-limit buckets held at most; past it, code creation answers 429. */
export const MAX_ENTRIES = 10_000;
/** Fixed: changing them signs every session and approval page out. */
const SESSION_INFO = "reproq tui pairing session key v1";
const CSRF_INFO = "reproq tui pairing csrf key v1";

const derive = (secret: string, info: string) =>
  Buffer.from(hkdfSync("sha256", secret, Buffer.alloc(0), info, 32));
const mac = (key: Buffer, text: string) => createHmac("sha256", key).update(text).digest("base64url");

function sameText(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** Sessions and CSRF tokens: stateless, under keys derived from the bearer token (never the token itself). */
export class PairingKeys {
  readonly #session: Buffer;
  readonly #csrf: Buffer;

  constructor(bearerToken: string) {
    this.#session = derive(bearerToken, SESSION_INFO);
    this.#csrf = derive(bearerToken, CSRF_INFO);
  }

  /** A session cookie value for an approver who proved admin: its expiry and a MAC of it. */
  openSession(now = Date.now()): string {
    const until = String(now + SESSION_TTL_MS);
    return `${until}.${mac(this.#session, until)}`;
  }

  hasSession(value: string | undefined, now = Date.now()): boolean {
    const [until, tag, extra] = (value ?? "").split(".");
    if (!until || !tag || extra !== undefined || !/^\d{1,15}$/.test(until)) return false;
    return sameText(tag, mac(this.#session, until)) && Number(until) > now;
  }

  /** The CSRF token of the approval page for `code` in the browser holding `cookie`. */
  csrfToken(code: string, cookie: string): string {
    return mac(this.#csrf, `${code}\n${cookie}`);
  }

  csrfMatches(code: string, cookie: string | undefined, offered: unknown): boolean {
    if (!cookie || typeof offered !== "string") return false;
    return sameText(offered, this.csrfToken(code, cookie));
  }
}

/** A new random code (the caller retries on the rare collision). */
export function newCode(): string {
  let code = "";
  for (let i = 0; i < CODE_LENGTH; i++) code += CODE_ALPHABET[randomInt(CODE_ALPHABET.length)];
  return code;
}

/** Token buckets per client address: `capacity` at once, refilled at capacity per `perMs`. */
export class RateLimiter {
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  constructor(
    private readonly capacity: number,
    private readonly perMs = 60_000,
  ) {}

  /** Takes one token for `client`; the seconds to wait when there is none. */
  take(client: string, now = Date.now()): { ok: true } | { ok: false; retryAfterS: number } {
    const rate = this.capacity / this.perMs;
    const bucket = this.#buckets.get(client) ?? { tokens: this.capacity, at: now };
    bucket.tokens = Math.min(this.capacity, bucket.tokens + (now - bucket.at) * rate);
    bucket.at = now;
    // Map order is last use: re-inserting moves the client to the end, and past MAX_ENTRIES the
    // least recently seen clients go first, one each (a flood of new addresses costs O(1) each).
    this.#buckets.delete(client);
    this.#buckets.set(client, bucket);
    if (this.#buckets.size > MAX_ENTRIES) {
      const oldest = this.#buckets.keys().next().value;
      if (oldest !== undefined) this.#buckets.delete(oldest);
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterS: Math.max(1, Math.ceil((1 - bucket.tokens) / rate / 1000)) };
  }

  /** Clients tracked now (at most MAX_ENTRIES). */
  get size(): number {
    return this.#buckets.size;
  }
}

/** Parses a Cookie header into name → value (first one wins). */
export function parseCookies(header: string | undefined): Map<string, string> {
  const cookies = new Map<string, string>();
  for (const part of (header ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    if (name && !cookies.has(name)) cookies.set(name, part.slice(eq + 1).trim());
  }
  return cookies;
}

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>${escapeHtml(title)}</title>
<style>body{font:16px system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}code{font-size:1.4rem;letter-spacing:.15em}</style>
</head><body><h1>${escapeHtml(title)}</h1>
${body}
</body></html>
`;
}

export function loginPage(action: string, code: string, message?: string): string {
  return page(
    "Reproq: sign in to approve a device",
    `${message ? `<p><strong>${escapeHtml(message)}</strong></p>` : ""}
<p>Paste the manager API's bearer token or an admin JWT (<code>reproq token --scope admin</code>).</p>
<form method="post" action="${escapeHtml(action)}">
<input type="hidden" name="code" value="${escapeHtml(code)}">
<p><input type="password" name="token" autocomplete="off" required size="40" aria-label="admin token"></p>
<p><button type="submit">Sign in</button></p>
</form>`,
  );
}

export function approvePage(action: string, code: string, csrf: string): string {
  return page(
    "Reproq: approve a device",
    `<p>A terminal asks for access to this manager API with the code</p>
<p><code>${escapeHtml(code)}</code></p>
<p>Approve it only if that code is on your screen.</p>
<form method="post" action="${escapeHtml(action)}">
<input type="hidden" name="code" value="${escapeHtml(code)}">
<input type="hidden" name="csrf" value="${escapeHtml(csrf)}">
<p><label><input type="radio" name="scope" value="read" checked> read (stats, metrics, events)</label><br>
<label><input type="radio" name="scope" value="admin"> admin (also pause and resume queues)</label></p>
<p><button type="submit" name="action" value="approve">Approve</button>
<button type="submit" name="action" value="deny">Deny</button></p>
</form>`,
  );
}

export function statusPage(status: string): string {
  const says: Record<string, string> = {
    approved: "Approved: the terminal picks up its token now. You can close this page.",
    denied: "Denied: the terminal gets no token.",
    consumed: "This code was approved and its token handed out.",
    expired: "This code is unknown or has expired; start pairing again in the terminal.",
    forbidden: "Approving a device needs admin access.",
    csrf: "The form expired or did not come from this page; reload it and try again.",
  };
  return page("Reproq: device pairing", `<p>${escapeHtml(says[status] ?? status)}</p>`);
}
