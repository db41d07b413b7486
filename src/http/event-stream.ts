/**
 * Server-sent events for a worker's /events: run lifecycle and worker state, each with an `id:`
 * of the form `<stream>-<n>` (a token of this stream, then a counter), kept in a bounded ring so a
 * client reconnecting with Last-Event-ID gets what it missed. The stream token tells an id from an
 * earlier process (a restarted worker counts from 1 again) from one of this stream: for the
 * former everything kept is replayed, so a client never skips the new process's first events. Publishing never waits for a client: each frame is written once per client, and a client
 * whose socket holds more than `maxBufferedBytes` unsent is dropped (it reconnects and resumes).
 */
import { randomBytes } from "node:crypto";
import type { ServerResponse } from "node:http";

export interface StreamEvent {
  id: number;
  /** The SSE frame, ready to write (`id:`, `event:`, `data:` and the blank line). */
  frame: string;
}

export interface EventStreamOptions {
  /** Events kept for Last-Event-ID resume (0 keeps none). */
  history: number;
  /** A client with more than this many bytes waiting in its socket is dropped. */
  maxBufferedBytes: number;
  /** How often each client gets a `: ping` comment. */
  heartbeatMs: number;
  /** The stream's token in event ids (default: random, different in every process). */
  streamId?: string;
}

export class EventStream {
  #ring: StreamEvent[] = [];
  #next = 1;
  #clients = new Set<ServerResponse>();
  #options: EventStreamOptions;
  #ping: NodeJS.Timeout;
  readonly streamId: string;
  /** Clients dropped for reading too slowly (a metric). */
  dropped = 0;

  constructor(options: EventStreamOptions) {
    this.#options = options;
    this.streamId = options.streamId ?? `${Date.now().toString(36)}${randomBytes(3).toString("hex")}`;
    this.#ping = setInterval(() => this.#broadcast(": ping\n\n"), options.heartbeatMs);
    this.#ping.unref();
  }

  get clients(): number {
    return this.#clients.size;
  }

  /** The id of the newest event (0 before any). */
  get lastId(): number {
    return this.#next - 1;
  }

  publish(type: string, data: unknown): void {
    const id = this.#next++;
    const event = {
      id,
      frame: `id: ${this.streamId}-${id}\nevent: ${type}\ndata: ${JSON.stringify(data)}\n\n`,
    };
    if (this.#options.history > 0) {
      this.#ring.push(event);
      if (this.#ring.length > this.#options.history) this.#ring.shift();
    }
    this.#broadcast(event.frame);
  }

  /**
   * Streams to `res` from now on, first replaying the kept events after `lastEventId` (an id this
   * stream never gave, such as one from before a restart, replays everything kept).
   */
  add(res: ServerResponse, lastEventId: string | undefined): void {
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache, no-transform",
      connection: "keep-alive",
      "x-accel-buffering": "no",
    });
    // The stream stays open until the client or the worker ends it: no idle or write timeout.
    res.socket?.setTimeout(0);
    res.socket?.setNoDelay(true);
    res.write("retry: 2000\n\n");
    if (lastEventId !== undefined) {
      // An id of this stream resumes after it; any other (an earlier process's) replays all kept.
      const dash = lastEventId.lastIndexOf("-");
      const ours = dash > 0 && lastEventId.slice(0, dash) === this.streamId;
      const after = ours ? Number(lastEventId.slice(dash + 1)) : Number.NaN;
      const resume = Number.isInteger(after) && after >= 0 && after <= this.lastId;
      for (const event of this.#ring) if (!resume || event.id > after) res.write(event.frame);
    }
    this.#clients.add(res);
    res.on("close", () => this.#clients.delete(res));
  }

  #broadcast(frame: string): void {
    for (const res of this.#clients) {
      if (res.writableLength > this.#options.maxBufferedBytes) {
        this.#clients.delete(res);
        this.dropped++;
        res.destroy();
        continue;
      }
      res.write(frame);
    }
  }

  /** Ends every open stream and stops the heartbeat. */
  close(): void {
    clearInterval(this.#ping);
    for (const res of this.#clients) res.end();
    this.#clients.clear();
  }
}
