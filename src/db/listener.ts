/**
 * One LISTEN connection shared by everything in a process that waits for notifications.
 * It connects on first subscribe, re-listens after a lost connection (with backoff), and
 * tells subscribers when it reconnected so they can re-check what they may have missed.
 */
import pg from "pg";
import { quoteIdent } from "./names.js";
import { DEFAULT_CONNECT_TIMEOUT_MS, noteConnectFailure } from "./pool.js";

export type NotificationHandler = (payload: string) => void;

export interface ListenerOptions {
  url?: string;
  /** Used when no URL is known (e.g. configure({ pool })): the pool's connection settings. */
  clientConfig?: pg.ClientConfig;
  applicationName?: string;
  /** How long opening the connection may take (the connectTimeout setting); default 10 s. */
  connectTimeoutMs?: number;
  onReconnect?: () => void;
}

export class Listener {
  #options: ListenerOptions;
  #client: pg.Client | null = null;
  #connecting: Promise<pg.Client> | null = null;
  #handlers = new Map<string, Set<NotificationHandler>>();
  #reconnectHandlers = new Set<() => void>();
  #closed = false;
  #retryTimer: NodeJS.Timeout | null = null;

  constructor(options: ListenerOptions) {
    this.#options = options;
  }

  /** Subscribes and resolves once LISTEN is in effect. Returns the unsubscribe function. */
  async subscribe(channel: string, handler: NotificationHandler): Promise<() => void> {
    let set = this.#handlers.get(channel);
    const isNew = !set;
    if (!set) {
      set = new Set();
      this.#handlers.set(channel, set);
    }
    set.add(handler);
    try {
      const client = await this.#connect();
      if (isNew) await client.query(`LISTEN ${quoteIdent(channel)}`);
    } catch (error) {
      set.delete(handler);
      if (set.size === 0) this.#handlers.delete(channel);
      throw error;
    }
    return () => {
      const current = this.#handlers.get(channel);
      if (!current) return;
      current.delete(handler);
      if (current.size === 0) {
        this.#handlers.delete(channel);
        this.#client?.query(`UNLISTEN ${quoteIdent(channel)}`).catch(() => {});
      }
    };
  }

  /** Called after the connection was lost and re-established. */
  onReconnect(handler: () => void): () => void {
    this.#reconnectHandlers.add(handler);
    return () => this.#reconnectHandlers.delete(handler);
  }

  async #connect(): Promise<pg.Client> {
    if (this.#client) return this.#client;
    if (this.#connecting) return this.#connecting;
    this.#connecting = (async () => {
      const config: pg.ClientConfig = {
        ...(this.#options.clientConfig ?? {}),
        ...(this.#options.url ? { connectionString: this.#options.url } : {}),
        application_name: `${this.#options.applicationName ?? "reproq"}:listener`,
        keepAlive: true,
        connectionTimeoutMillis: this.#options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      };
      const client = new pg.Client(config);
      client.on("notification", (msg) => {
        const handlers = this.#handlers.get(msg.channel);
        if (!handlers) return;
        for (const handler of [...handlers]) handler(msg.payload ?? "");
      });
      const lost = () => {
        if (this.#client === client) this.#client = null;
        this.#scheduleReconnect(0);
      };
      client.on("error", lost);
      client.on("end", lost);
      try {
        await client.connect();
      } catch (error) {
        client.removeAllListeners("end");
        await client.end().catch(() => {});
        throw noteConnectFailure(error, config);
      }
      this.#client = client;
      return client;
    })();
    try {
      return await this.#connecting;
    } finally {
      this.#connecting = null;
    }
  }

  #scheduleReconnect(attempt: number): void {
    if (this.#closed || this.#handlers.size === 0 || this.#retryTimer) return;
    const delay = Math.min(5000, 100 * 2 ** attempt);
    this.#retryTimer = setTimeout(async () => {
      this.#retryTimer = null;
      if (this.#closed || this.#handlers.size === 0) return;
      try {
        const client = await this.#connect();
        for (const channel of this.#handlers.keys()) {
          await client.query(`LISTEN ${quoteIdent(channel)}`);
        }
        for (const handler of [...this.#reconnectHandlers]) handler();
      } catch {
        this.#scheduleReconnect(attempt + 1);
      }
    }, delay);
    this.#retryTimer.unref();
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#handlers.clear();
    const client = this.#client ?? (await this.#connecting?.catch(() => null)) ?? null;
    this.#client = null;
    if (client) {
      client.removeAllListeners("end");
      client.removeAllListeners("error");
      client.on("error", () => {});
      await client.end().catch(() => {});
    }
  }
}
