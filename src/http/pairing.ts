/**
 * Device pairing for the TUI, kept in memory by one manager handler: codes (8 characters from an
 * unambiguous alphabet, 10 minutes), the approver's login sessions, per-page CSRF tokens (an HMAC
 * of the code and a per-browser cookie under a per-process key) and per-client token buckets.
 * An approved code hands its JWT out once. Several `reproq serve` processes behind a load balancer
 * need sticky routing, since each holds its own state. See docs/observability.md.
 */
import { createHmac, randomBytes, randomInt, timingSafeEqual } from "node:crypto";

/** No 0/O, 1/I/L: a code read off a screen and typed is not mistyped. */
export const CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789";
export const CODE_LENGTH = 8;
export const CODE_PATTERN = new RegExp(`^[${CODE_ALPHABET}]{${CODE_LENGTH}}$`);
export const PAIR_TTL_MS = 10 * 60_000;
export const SESSION_TTL_MS = 15 * 60_000;
/** Codes and sessions held at most; past it, creation answers 429 until some expire. */
const MAX_ENTRIES = 10_000;

export type PairStatus = "pending" | "approved" | "denied" | "consumed";

interface Pair {
  status: PairStatus;
  expiresAt: number;
  token?: { token: string; expiresAt: Date };
}

export type PairPoll =
  | { status: "pending" | "denied" }
  | { status: "approved"; token: string; expiresAt: Date }
  | { status: "consumed" | "expired" };

export class PairingState {
  readonly #pairs = new Map<string, Pair>();
  readonly #sessions = new Map<string, number>();
  readonly #csrfKey = randomBytes(32);

  /** A new pending code, or null when too many are outstanding. */
  create(now = Date.now()): { code: string; expiresAt: Date } | null {
    this.#prune(now);
    if (this.#pairs.size >= MAX_ENTRIES) return null;
    let code = newCode();
    while (this.#pairs.has(code)) code = newCode();
    const expiresAt = now + PAIR_TTL_MS;
    this.#pairs.set(code, { status: "pending", expiresAt });
    return { code, expiresAt: new Date(expiresAt) };
  }

  /** The code's status, or undefined when unknown or expired. */
  status(code: string, now = Date.now()): PairStatus | undefined {
    return this.#live(code, now)?.status;
  }

  /** What the polling TUI gets: an approved code's token once, then "consumed". */
  poll(code: string, now = Date.now()): PairPoll {
    const pair = this.#live(code, now);
    if (!pair) return { status: "expired" };
    if (pair.status === "approved" && pair.token) {
      const { token, expiresAt } = pair.token;
      pair.status = "consumed";
      delete pair.token;
      return { status: "approved", token, expiresAt };
    }
    return { status: pair.status === "approved" ? "consumed" : pair.status } as PairPoll;
  }

  /** Settles a pending code; false when it is not pending (expired, already settled). */
  settle(code: string, outcome: { token: string; expiresAt: Date } | "denied", now = Date.now()): boolean {
    const pair = this.#live(code, now);
    if (pair?.status !== "pending") return false;
    if (outcome === "denied") pair.status = "denied";
    else {
      pair.status = "approved";
      pair.token = outcome;
    }
    return true;
  }

  /** A login session id for an approver who proved admin, or null when too many are open. */
  openSession(now = Date.now()): string | null {
    this.#prune(now);
    if (this.#sessions.size >= MAX_ENTRIES) return null;
    const id = randomBytes(24).toString("base64url");
    this.#sessions.set(id, now + SESSION_TTL_MS);
    return id;
  }

  hasSession(id: string | undefined, now = Date.now()): boolean {
    if (id === undefined) return false;
    const until = this.#sessions.get(id);
    return until !== undefined && until > now;
  }

  /** The CSRF token of the approval page for `code` in the browser holding `cookie`. */
  csrfToken(code: string, cookie: string): string {
    return createHmac("sha256", this.#csrfKey).update(`${code}\n${cookie}`).digest("base64url");
  }

  csrfMatches(code: string, cookie: string | undefined, offered: unknown): boolean {
    if (!cookie || typeof offered !== "string") return false;
    const expected = Buffer.from(this.csrfToken(code, cookie));
    const given = Buffer.from(offered);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  #live(code: string, now: number): Pair | undefined {
    const pair = this.#pairs.get(code);
    if (pair && pair.expiresAt <= now) {
      this.#pairs.delete(code);
      return undefined;
    }
    return pair;
  }

  #prune(now: number): void {
    for (const [code, pair] of this.#pairs) if (pair.expiresAt <= now) this.#pairs.delete(code);
    for (const [id, until] of this.#sessions) if (until <= now) this.#sessions.delete(id);
  }
}

function newCode(): string {
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
    if (this.#buckets.size >= MAX_ENTRIES && !this.#buckets.has(client)) this.#sweep(now);
    this.#buckets.set(client, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterS: Math.max(1, Math.ceil((1 - bucket.tokens) / rate / 1000)) };
  }

  /** Drops the buckets that have refilled (they hold nothing a new bucket would not). */
  #sweep(now: number): void {
    const rate = this.capacity / this.perMs;
    for (const [client, bucket] of this.#buckets)
      if (bucket.tokens + (now - bucket.at) * rate >= this.capacity) this.#buckets.delete(client);
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
