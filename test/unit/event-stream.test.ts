import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { EventStream } from "../../src/http/event-stream.js";

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

/** A server whose every request becomes a stream of `stream`. */
async function serve(stream: EventStream): Promise<string> {
  const server = http.createServer((req, res) =>
    stream.add(res, req.headers["last-event-id"] as string | undefined),
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(() => {
    stream.close();
    server.closeAllConnections();
    server.close();
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function open(url: string, headers: Record<string, string> = {}): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers }, resolve);
    req.on("error", reject);
    cleanups.push(() => req.destroy());
  });
}

/** Reads until `done` holds, leaving the stream open. */
function readUntil(res: http.IncomingMessage, done: (text: string) => boolean): Promise<string> {
  let text = "";
  res.setEncoding("utf8");
  return new Promise((resolve) => {
    const onData = (chunk: string) => {
      text += chunk;
      if (!done(text)) return;
      res.off("data", onData);
      resolve(text);
    };
    res.on("data", onData);
    res.on("end", () => resolve(text));
  });
}

describe("the event stream", () => {
  it("keeps a bounded history and replays only what came after Last-Event-ID", async () => {
    const stream = new EventStream({
      history: 3,
      maxBufferedBytes: 1 << 20,
      heartbeatMs: 60_000,
      streamId: "s1",
    });
    const url = await serve(stream);
    for (let n = 1; n <= 5; n++) stream.publish("tick", { n });
    const res = await open(url, { "last-event-id": "s1-3" });
    const text = await readUntil(res, (t) => t.includes("id: s1-5\n"));
    expect(text).toContain('id: s1-4\nevent: tick\ndata: {"n":4}\n\n');
    expect(text).not.toContain("id: s1-3\n");
  });

  it("replays everything kept for an id of an earlier process, even one with a lower counter", async () => {
    const stream = new EventStream({
      history: 3,
      maxBufferedBytes: 1 << 20,
      heartbeatMs: 60_000,
      streamId: "s2",
    });
    const url = await serve(stream);
    for (let n = 1; n <= 5; n++) stream.publish("tick", { n });
    // The worker restarted: the client saw event 4 of the previous process, and this one's 3-5 are new to it.
    for (const lastId of ["s1-4", "s1-99", "4", "garbage"]) {
      const again = await readUntil(await open(url, { "last-event-id": lastId }), (t) =>
        t.includes("id: s2-5\n"),
      );
      expect(again.match(/^id: /gm), lastId).toHaveLength(3);
    }
    expect(stream.streamId).toBe("s2");
    const [a, b] = [0, 1].map(
      () => new EventStream({ history: 0, maxBufferedBytes: 1, heartbeatMs: 60_000 }),
    );
    expect(a!.streamId).not.toBe(b!.streamId);
    a!.close();
    b!.close();
  });

  it("drops a client that stops reading, without waiting for it", async () => {
    const stream = new EventStream({ history: 0, maxBufferedBytes: 64 * 1024, heartbeatMs: 60_000 });
    const url = await serve(stream);
    const res = await open(url);
    res.pause();
    const closed = new Promise<void>((resolve) => res.socket.once("close", () => resolve()));
    const payload = "x".repeat(16 * 1024);
    // Far more than the socket's buffers hold: every publish returns at once, the reader is dropped.
    for (let n = 0; n < 2000 && stream.clients > 0; n++) stream.publish("big", { payload });
    expect(stream.clients).toBe(0);
    expect(stream.dropped).toBe(1);
    await closed;
  });

  it("sends heartbeat comments and ends every stream on close", async () => {
    const stream = new EventStream({ history: 10, maxBufferedBytes: 1 << 20, heartbeatMs: 20 });
    const url = await serve(stream);
    const res = await open(url);
    const text = await readUntil(res, (t) => t.includes(": ping\n\n"));
    expect(text).toContain(": ping\n\n");
    const ended = new Promise<void>((resolve) => res.on("end", () => resolve()));
    res.resume();
    stream.close();
    await ended;
    expect(stream.clients).toBe(0);
  });
});
