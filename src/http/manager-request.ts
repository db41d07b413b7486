/** The request and answer shapes the manager API's routes share (node and fetch alike). */
import type { IncomingMessage } from "node:http";

/** The request as the hook sees it: node's IncomingMessage, or the fetch Request. */
export type ManagerRequest = IncomingMessage | Request;

/** A JSON answer, or a raw one (an HTML page, a proxied body or stream) when `raw` is set. */
export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  raw?: { contentType: string; body: string | ReadableStream<Uint8Array> };
}

export interface Incoming {
  method: string;
  /** The path after the prefix, without a trailing slash ("stats", "queues/emails/pause"). */
  route: string;
  header(name: string): string | undefined;
  body(): Promise<unknown>;
  raw: ManagerRequest;
  /** Aborted when the client goes away (ends a proxied stream). */
  signal: AbortSignal;
  query: URLSearchParams;
  /** "http://host:port" as the client addressed this server (for the absolute URLs of tui/config/). */
  origin: string;
  /** The client's address, the key of the pairing rate limits. */
  client: string;
}
