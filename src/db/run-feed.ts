/**
 * The run feed: the schema's notifications as typed events, over one LISTEN connection. The
 * database sends three (see the migrations' triggers):
 *
 * - `<schema>.enqueued`: READY runs appeared; the payload counts them by queue (`{"emails": 3}`),
 *   or is `{"*":0}` when the sender does not know which queues (a freed key, a released run).
 * - `<schema>.cancel`: cancel was requested for a running run; the payload is its id.
 * - `<schema>.finished`: runs reached a final status; the payload is `id:STATUS`, or several of
 *   them separated by commas (a settled batch sends one notification per few hundred runs).
 *
 * The backend's wait(), the worker and any live surface (server-sent events, the terminal UI)
 * subscribe here rather than to channels, so each channel's payload is parsed in one place.
 */
import type { Listener } from "./listener.js";
import { channelName } from "./names.js";

export type FeedEvent =
  /** `queues` is null when any queue may have work ("*", or a payload this version cannot read). */
  | { type: "enqueued"; queues: Record<string, number> | null }
  | { type: "cancel-requested"; id: string }
  | { type: "finished"; id: string; status: string }
  /** The LISTEN connection was lost and is back: notifications may have been missed meanwhile. */
  | { type: "reconnected" };

export type FeedEventType = FeedEvent["type"];
export type FeedEventOf<T extends FeedEventType> = Extract<FeedEvent, { type: T }>;

const CHANNEL_OF = {
  enqueued: "enqueued",
  "cancel-requested": "cancel",
  finished: "finished",
} as const;

/** Reads an enqueued payload; null means "any queue". */
export function parseEnqueued(payload: string): Record<string, number> | null {
  try {
    const counts = JSON.parse(payload) as unknown;
    if (!counts || typeof counts !== "object" || Array.isArray(counts)) return null;
    if ("*" in counts) return null;
    return counts as Record<string, number>;
  } catch {
    return null;
  }
}

/** Reads a finished payload (`id:STATUS`, or several separated by commas); skips malformed entries. */
export function parseFinished(payload: string): Array<{ id: string; status: string }> {
  const runs: Array<{ id: string; status: string }> = [];
  for (const entry of payload.split(",")) {
    const colon = entry.indexOf(":");
    if (colon > 0) runs.push({ id: entry.slice(0, colon), status: entry.slice(colon + 1) });
  }
  return runs;
}

export class RunFeed {
  readonly schema: string;
  #listener: Listener;

  constructor(listener: Listener, schema: string) {
    this.#listener = listener;
    this.schema = schema;
  }

  /**
   * Calls `handler` for each event of these types, from now on; resolves once the database
   * delivers them (LISTEN is in effect). Returns the unsubscribe function.
   */
  async subscribe<T extends FeedEventType>(
    types: readonly T[],
    handler: (event: FeedEventOf<T>) => void,
  ): Promise<() => void> {
    const emit = handler as (event: FeedEvent) => void;
    const offs: Array<() => void> = [];
    try {
      for (const type of new Set(types)) {
        if (type === "reconnected") {
          offs.push(this.#listener.onReconnect(() => emit({ type: "reconnected" })));
          continue;
        }
        const channel = channelName(this.schema, CHANNEL_OF[type as keyof typeof CHANNEL_OF]);
        offs.push(
          await this.#listener.subscribe(channel, (payload) => {
            for (const event of decode(type, payload)) emit(event);
          }),
        );
      }
    } catch (error) {
      for (const off of offs) off();
      throw error;
    }
    return () => {
      for (const off of offs.splice(0)) off();
    };
  }
}

function decode(type: Exclude<FeedEventType, "reconnected">, payload: string): FeedEvent[] {
  switch (type) {
    case "enqueued":
      return [{ type, queues: parseEnqueued(payload) }];
    case "cancel-requested":
      return [{ type, id: payload }];
    case "finished":
      return parseFinished(payload).map(({ id, status }) => ({ type, id, status }));
  }
}
