/** A database that cannot be reached is named in the error: host:port and the connect timeout. */
import net from "node:net";
import os from "node:os";
import { afterEach, describe, expect, it } from "vitest";
import { Backend } from "../../src/backend.js";
import { ConnectionError, task } from "../../src/index.js";

const ping = task("connect.errors.ping", async () => "pong");
const open: Array<{ close(): unknown }> = [];

afterEach(async () => {
  for (const thing of open.splice(0)) await thing.close();
});

/** A TCP server on 127.0.0.1 that does `onSocket` with each connection; resolves to its port. */
async function tcpServer(onSocket: (socket: net.Socket) => void): Promise<number> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    onSocket(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  open.push({
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(resolve));
    },
  });
  return (server.address() as net.AddressInfo).port;
}

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function enqueueError(port: number, connectTimeout: string): Promise<Error> {
  const backend = new Backend({
    alias: "default",
    cwd: os.tmpdir(),
    overrides: { databaseUrl: `postgres://app:hunter2@127.0.0.1:${port}/app`, connectTimeout },
  });
  open.push(backend);
  const error = await backend.enqueue(ping, []).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(ConnectionError);
  expect((error as Error).message).not.toContain("hunter2");
  return error as Error;
}

describe("connection errors name the target", () => {
  it("a closed port", async () => {
    const port = await closedPort();
    const error = await enqueueError(port, "2s");
    expect(error.message).toMatch(
      new RegExp(`^cannot reach PostgreSQL at 127\\.0\\.0\\.1:${port}, connect timeout 2s: .*ECONNREFUSED`),
    );
  });

  it("a server that hangs up at once", async () => {
    const port = await tcpServer((socket) => socket.destroy());
    const error = await enqueueError(port, "5s");
    expect(error.message).toBe(
      `cannot reach PostgreSQL at 127.0.0.1:${port}, connect timeout 5s: Connection terminated unexpectedly`,
    );
  });

  it("a server that never answers, past the connect timeout", async () => {
    const port = await tcpServer(() => {});
    const error = await enqueueError(port, "200ms");
    expect(error.message).toMatch(
      new RegExp(`^cannot reach PostgreSQL at 127\\.0\\.0\\.1:${port}, connect timeout 200ms: .*timeout`),
    );
  });
});
