/** Reading a worker's HTTP endpoints in tests: plain requests and a server-sent events reader. */
import http from "node:http";
import { startWorkerHttp, type WorkerHttpServer } from "../../src/http/worker-server.js";
import type { SurfaceContext, WorkerSurface } from "../../src/index.js";

/** A surface that starts the HTTP endpoints and hands the test their server (for its URL). */
export function httpSurface(): { surface: WorkerSurface; server: () => WorkerHttpServer } {
  let started: WorkerHttpServer | undefined;
  return {
    surface: async (context: SurfaceContext) => {
      started = await startWorkerHttp(context);
      return started;
    },
    server: () => {
      if (!started) throw new Error("the HTTP surface has not started");
      return started;
    },
  };
}

export async function get(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string; headers: Headers }> {
  const res = await fetch(url, { headers });
  return { status: res.status, body: await res.text(), headers: res.headers };
}

export interface SseFrame {
  id?: string;
  event?: string;
  data?: string;
}

/** An open /events stream: frames and comments as they arrive. */
export class SseReader {
  frames: SseFrame[] = [];
  comments: string[] = [];
  /** The response headers arrived (the server has added the stream). */
  opened = false;
  ended = false;
  #buffer = "";
  #waiters: Array<() => void> = [];
  #req: http.ClientRequest;

  constructor(url: string, headers: Record<string, string> = {}) {
    this.#req = http.get(url, { headers }, (res) => {
      this.opened = true;
      this.#wake();
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => this.#read(chunk));
      res.on("end", () => this.#end());
      res.on("close", () => this.#end());
    });
    this.#req.on("error", () => this.#end());
  }

  #end(): void {
    this.ended = true;
    this.#wake();
  }

  #wake(): void {
    for (const wake of this.#waiters.splice(0)) wake();
  }

  #read(chunk: string): void {
    this.#buffer += chunk;
    let cut = this.#buffer.indexOf("\n\n");
    while (cut >= 0) {
      const block = this.#buffer.slice(0, cut);
      this.#buffer = this.#buffer.slice(cut + 2);
      const frame: SseFrame = {};
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) this.comments.push(line);
        else if (line.startsWith("id: ")) frame.id = line.slice(4);
        else if (line.startsWith("event: ")) frame.event = line.slice(7);
        else if (line.startsWith("data: ")) frame.data = line.slice(6);
      }
      if (frame.event) this.frames.push(frame);
      cut = this.#buffer.indexOf("\n\n");
    }
    this.#wake();
  }

  /** Waits (bounded) until `ready` holds for what arrived so far. */
  async until(ready: (reader: SseReader) => boolean, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!ready(this)) {
      if (Date.now() > deadline) throw new Error(`stream condition not met within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  events(type: string): Array<SseFrame & { json: Record<string, unknown> }> {
    return this.frames
      .filter((frame) => frame.event === type)
      .map((frame) => ({ ...frame, json: JSON.parse(frame.data ?? "null") as Record<string, unknown> }));
  }

  close(): void {
    this.#req.destroy();
  }
}

/** The value of one sample in Prometheus text (`name{a="x",b="y"} 3`), labels in any order. */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const brace = line.indexOf("{");
    const found: Record<string, string> = {};
    let rest = line.slice(name.length);
    if (brace === name.length) {
      const close = line.indexOf("} ");
      for (const match of line.slice(brace + 1, close).matchAll(/(\w+)="([^"]*)"/g))
        found[match[1] as string] = match[2] as string;
      rest = line.slice(close + 1);
    }
    if (Object.entries(labels).every(([key, value]) => found[key] === value)) return Number(rest.trim());
  }
  return undefined;
}
