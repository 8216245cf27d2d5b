/**
 * The fault proxy of tests/support against plain TCP servers on 127.0.0.1: each fault does what
 * it says on real sockets (bytes forwarded, swallowed, delayed, cut, dropped, refused,
 * redirected), and close() leaves nothing running.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';

/** Long enough for loopback bytes to arrive if they were going to; only used to show absence. */
const QUIET_MS = 100;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A TCP server on 127.0.0.1 for the proxy to target, with what it accepted and received. */
interface TestServer {
  port: number;
  /** The server side of every connection it accepted, in order. */
  sockets: net.Socket[];
  /** Every byte any of its connections received, as text. */
  received: () => string;
  close: () => Promise<void>;
}

/** A server that echoes what it receives, after first writing `greeting` (if any) on each connection. */
async function startServer(greeting = ''): Promise<TestServer> {
  const sockets: net.Socket[] = [];
  let received = '';
  const server = net.createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => undefined);
    if (greeting) socket.write(greeting);
    socket.on('data', (bytes: Buffer) => {
      received += bytes.toString('latin1');
      socket.write(bytes);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    sockets,
    received: () => received,
    close: async () => {
      const closed = sockets.filter((s) => !s.closed).map((s) => closedPromise(s));
      for (const socket of sockets) socket.destroy();
      await Promise.all([...closed, new Promise<void>((resolve) => server.close(() => resolve()))]);
    },
  };
}

/** A client socket with everything it received and a promise of its close. */
interface TestClient {
  socket: net.Socket;
  received: () => string;
  closed: Promise<void>;
  /** Resolves once the received text includes `text`. */
  waitFor: (text: string) => Promise<void>;
}

async function connectClient(port: number): Promise<TestClient> {
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.on('error', () => undefined);
  let received = '';
  const watchers = new Set<() => void>();
  socket.on('data', (bytes: Buffer) => {
    received += bytes.toString('latin1');
    for (const watch of watchers) watch();
  });
  const closed = closedPromise(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('close', () => reject(new Error('closed before connecting')));
  });
  clients.push(socket);
  return {
    socket,
    received: () => received,
    closed,
    waitFor: (text) =>
      new Promise<void>((resolve) => {
        const watch = (): void => {
          if (!received.includes(text)) return;
          watchers.delete(watch);
          resolve();
        };
        watchers.add(watch);
        watch();
      }),
  };
}

function closedPromise(socket: net.Socket): Promise<void> {
  return new Promise<void>((resolve) => socket.once('close', () => resolve()));
}

/** Resolves when `server` has accepted `count` connections (the proxy connects asynchronously). */
async function accepted(server: TestServer, count: number): Promise<net.Socket> {
  while (server.sockets.length < count) await new Promise<void>((resolve) => setImmediate(resolve));
  return server.sockets[count - 1]!;
}

let proxy: FaultProxy | undefined;
const servers: TestServer[] = [];
const clients: net.Socket[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.destroy();
  await proxy?.close();
  proxy = undefined;
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function setUp(greeting = ''): Promise<{ server: TestServer; proxy: FaultProxy }> {
  const server = await startServer(greeting);
  servers.push(server);
  proxy = await startFaultProxy({ target: { host: '127.0.0.1', port: server.port } });
  return { server, proxy };
}

// Every test takes well under a second; a short timeout makes a hang fail fast.
describe('fault proxy', { timeout: 5_000 }, () => {
  it('listens on 127.0.0.1 and forwards bytes both ways, whole and in order', async () => {
    const { server, proxy } = await setUp();
    expect(proxy.port).toBeGreaterThan(0);
    expect(proxy.url).toBe(`amqp://127.0.0.1:${proxy.port}`);
    const client = await connectClient(proxy.port);
    // Large enough to span many chunks, with backpressure on the way.
    const payload = Array.from({ length: 64 * 1024 }, (_, i) => String.fromCharCode(i % 251))
      .join('')
      .repeat(4);
    client.socket.write(Buffer.from(payload, 'latin1'));
    await client.waitFor(payload);
    expect(client.received()).toBe(payload);
    expect(server.received()).toBe(payload);
    expect(proxy.connections).toBe(1);
    expect(proxy.accepted).toBe(1);
  });

  it('refuses targets off the loopback interface', async () => {
    await expect(startFaultProxy({ target: { host: '10.0.0.1', port: 5672 } })).rejects.toThrow(/loopback/);
    const { proxy } = await setUp();
    expect(() => proxy.setTarget({ host: 'example.com', port: 5672 })).toThrow(/loopback/);
    expect(() => proxy.setTarget({ host: '::1', port: 0 })).toThrow(/port/);
  });

  it('blackhole() swallows bytes both ways on existing and new connections, sockets still open; heal() fixes new connections only', async () => {
    const { server, proxy } = await setUp();
    const before = await connectClient(proxy.port);
    before.socket.write('hello');
    await before.waitFor('hello');
    const serverSide = await accepted(server, 1);

    proxy.blackhole();
    const during = await connectClient(proxy.port);
    before.socket.write('lost from client');
    during.socket.write('lost from new client');
    serverSide.write('lost from server');
    await sleep(QUIET_MS);
    expect(before.received()).toBe('hello');
    expect(during.received()).toBe('');
    expect(server.received()).toBe('hello');
    expect(server.sockets).toHaveLength(1); // the new connection never reached the target
    for (const client of [before, during]) {
      expect(client.socket.destroyed).toBe(false);
      expect(client.socket.readyState).toBe('open');
    }
    expect(proxy.connections).toBe(2);

    // Even the target closing stays hidden from the client.
    serverSide.destroy();
    proxy.heal();
    const after = await connectClient(proxy.port);
    after.socket.write('healed');
    await after.waitFor('healed');
    before.socket.write('still lost');
    during.socket.write('still lost');
    await sleep(QUIET_MS);
    expect(before.received()).toBe('hello');
    expect(during.received()).toBe('');
    expect(before.socket.destroyed).toBe(false);
    expect(during.socket.destroyed).toBe(false);
    expect(server.received()).toBe('hellohealed');
    expect(proxy.connections).toBe(3);
  });

  it('delay(ms) adds at least ms to each chunk and keeps order, even when lowered', async () => {
    const DELAY = 60;
    const { proxy } = await setUp();
    const client = await connectClient(proxy.port);
    proxy.delay(DELAY);
    const start = performance.now();
    client.socket.write('slow');
    await client.waitFor('slow');
    // Delayed on the way to the echo server and again on the way back.
    expect(performance.now() - start).toBeGreaterThanOrEqual(2 * DELAY);

    client.socket.write('first');
    await sleep(DELAY / 2); // 'first' is still queued on its way to the server
    proxy.delay(0);
    client.socket.write('second');
    await client.waitFor('second');
    expect(client.received()).toBe('slowfirstsecond');
  });

  it('cutMidFrame() delivers a strict prefix of the next server chunk, then closes both sides', async () => {
    const { server, proxy } = await setUp();
    const client = await connectClient(proxy.port);
    client.socket.write('ready');
    await client.waitFor('ready');
    const serverSide = await accepted(server, 1);
    const serverSideClosed = closedPromise(serverSide);

    proxy.cutMidFrame();
    const frame = Buffer.from(Array.from({ length: 100 }, (_, i) => i));
    serverSide.write(frame);
    await client.closed;
    await serverSideClosed;
    const got = Buffer.from(client.received().slice('ready'.length), 'latin1');
    expect(got.length).toBeGreaterThanOrEqual(1);
    expect(got.length).toBeLessThan(frame.length);
    expect(got).toEqual(frame.subarray(0, got.length));
    expect(proxy.connections).toBe(0);
  });

  it('dropAll() closes every proxied connection at once, on both sides', async () => {
    const { server, proxy } = await setUp();
    const first = await connectClient(proxy.port);
    const second = await connectClient(proxy.port);
    first.socket.write('a');
    second.socket.write('b');
    await Promise.all([first.waitFor('a'), second.waitFor('b')]);
    const serverSidesClosed = [await accepted(server, 1), await accepted(server, 2)].map((s) => closedPromise(s));

    proxy.dropAll();
    expect(proxy.connections).toBe(0);
    await Promise.all([first.closed, second.closed, ...serverSidesClosed]);
    expect(proxy.accepted).toBe(2);
  });

  it('refuse(true) closes new connections at once without reaching the target; refuse(false) lets them through', async () => {
    const { server, proxy } = await setUp();
    proxy.refuse(true);
    const refused = net.connect({ host: '127.0.0.1', port: proxy.port });
    refused.on('error', () => undefined);
    clients.push(refused);
    await closedPromise(refused);
    expect(proxy.accepted).toBe(1);
    expect(proxy.connections).toBe(0);
    expect(server.sockets).toHaveLength(0);

    proxy.refuse(false);
    const client = await connectClient(proxy.port);
    client.socket.write('back');
    await client.waitFor('back');
    expect(proxy.accepted).toBe(2);
  });

  it('setTarget() sends new connections to the new target; existing ones stay', async () => {
    const { proxy } = await setUp('A');
    const serverB = await startServer('B');
    servers.push(serverB);
    const first = await connectClient(proxy.port);
    await first.waitFor('A');

    proxy.setTarget({ host: '127.0.0.1', port: serverB.port });
    const second = await connectClient(proxy.port);
    await second.waitFor('B');
    first.socket.write('still A');
    await first.waitFor('still A');
    expect(second.received()).toBe('B');
    expect(serverB.received()).toBe('');
  });

  it('close() destroys every socket and timer: no handle is left', async () => {
    // TCP handles must match exactly; timers may only be fewer (the runner keeps its own).
    const tcpHandles = (): string[] =>
      process
        .getActiveResourcesInfo()
        .filter((r) => r.startsWith('TCP'))
        .sort();
    const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const server = await startServer();
    servers.push(server);
    // Let handles closed by earlier tests be released (libuv frees them in its close phase).
    for (let turn = 0; turn < 2; turn++) await new Promise<void>((resolve) => setImmediate(resolve));
    const handlesBefore = tcpHandles();
    const timersBefore = timers();

    const closing = await startFaultProxy({ target: { host: '127.0.0.1', port: server.port } });
    // A black-holed pair that never reached the target, and a chunk held by a delay timer.
    closing.blackhole();
    const stuck = await connectClient(closing.port);
    closing.heal();
    const client = await connectClient(closing.port);
    client.socket.write('x');
    await client.waitFor('x');
    const serverSideClosed = closedPromise(await accepted(server, 1));
    closing.delay(10_000);
    client.socket.write('held');
    await sleep(20); // let the proxy read 'held' and arm its timer

    await closing.close();
    await Promise.all([client.closed, stuck.closed, serverSideClosed]);
    expect(tcpHandles()).toEqual(handlesBefore);
    expect(timers()).toBeLessThanOrEqual(timersBefore);
    expect(server.received()).toBe('x');
    await closing.close(); // idempotent
  });
});
