/**
 * listen(), startBroker() and their close() take a signal, as connect() and every other call do:
 * a listen cancelled before or while binding leaves nothing listening; a close cancelled stops
 * waiting for clients to answer (their sockets are destroyed) and still leaves nothing behind.
 */
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import {
  AbortError,
  ConnectionLostError,
  TimeoutError,
  connect,
  listen,
  startBroker,
  type Broker,
} from '../../src/index.js';
import { freePort } from '../support/raw-sasl-client.js';

/** Whether a fresh server can bind `port` on loopback now (nothing else listens there). */
function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

describe('listen({ signal }) and startBroker({ signal })', () => {
  it('a signal already aborted is refused with an AbortError carrying its reason, and nothing is bound', async () => {
    const port = await freePort();
    const reason = new Error('shutting down');
    const listened = await listen({ port, signal: AbortSignal.abort(reason) }).catch((e: unknown) => e);
    expect(listened).toBeInstanceOf(AbortError);
    expect((listened as AbortError).condition).toBe('quark:aborted');
    expect((listened as AbortError).message).toBe('listen was aborted before it began; nothing was bound');
    expect((listened as AbortError).cause).toBe(reason);
    const started = await startBroker({ port, signal: AbortSignal.abort() }).catch((e: unknown) => e);
    expect(started).toBeInstanceOf(AbortError);
    expect(await portIsFree(port)).toBe(true);
  });

  it('a signal that fires while the port is being bound rejects, and closes what was being bound', async () => {
    const port = await freePort();
    const controller = new AbortController();
    const listening = listen({ port, signal: controller.signal });
    controller.abort();
    const error = await listening.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AbortError);
    expect((error as AbortError).message).toBe('listen was aborted while binding its port; nothing is left listening');
    expect(await portIsFree(port)).toBe(true);
  });

  it('an AbortSignal.timeout() that has passed is a TimeoutError, as for every other call', async () => {
    const signal = AbortSignal.timeout(0);
    await new Promise((resolve) => setTimeout(resolve, 5));
    const error = await listen({ port: 0, signal }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TimeoutError);
    expect((error as TimeoutError).condition).toBe('quark:timeout');
  });

  it('a signal that fires after listen() resolved does nothing: the listener stays until close()', async () => {
    const controller = new AbortController();
    const listener = await listen({ port: 0, signal: controller.signal });
    controller.abort();
    const conn = await connect({ url: listener.url, reconnect: false });
    expect(conn.isOpen).toBe(true);
    await conn.close();
    await listener.close();
    expect(await portIsFree(listener.port)).toBe(true);
  });
});

describe('Broker.close(options) (stop() is its deprecated alias) and Listener.close(options)', () => {
  it('close() closes every client connection with amqp:connection:forced and frees the port; stop() still does the same', async () => {
    const broker = await startBroker({ port: 0 });
    const conn = await connect({ url: broker.url, reconnect: false });
    const lost = new Promise<unknown>((resolve) =>
      conn.events$.subscribe((e) => e.type === 'disconnected' && resolve(e.error)),
    );
    await broker.close();
    expect(((await lost) as { condition: string }).condition).toBe('amqp:connection:forced');
    expect(await portIsFree(broker.port)).toBe(true);
    await broker.close(); // a second close is harmless
    const old: Broker = await startBroker({ port: 0 });
    await old.stop();
    expect(await portIsFree(old.port)).toBe(true);
  });

  it("cancelled (a signal already aborted), it destroys the clients' sockets without waiting for their answer, rejects with AbortError, and leaves nothing behind", async () => {
    const broker = await startBroker({ port: 0 });
    const conn = await connect({ url: broker.url, reconnect: false });
    const lost = new Promise<unknown>((resolve) =>
      conn.events$.subscribe((e) => e.type === 'disconnected' && resolve(e.error)),
    );
    const error = await broker.close({ signal: AbortSignal.abort() }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AbortError);
    expect((error as AbortError).message).toBe('closing the listener was aborted');
    expect(await lost).toBeInstanceOf(ConnectionLostError); // the socket went without an AMQP close
    expect(broker.connectionCount).toBe(0);
    expect(await portIsFree(broker.port)).toBe(true);
    await conn.close();
  });

  it('a timeout on close bounds the wait for a client that never answers the close', async () => {
    const listener = await listen({ port: 0, sasl: false });
    // A raw client that opens AMQP and then never answers anything (not even the close).
    const socket = net.connect(listener.port, '127.0.0.1');
    socket.on('error', () => undefined);
    const header = Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 1, 0, 0]);
    // An open frame: container-id "mute" (list of one string).
    const open = Buffer.from([
      0, 0, 0, 0x14, 2, 0, 0, 0, 0x00, 0x53, 0x10, 0xc0, 0x07, 0x01, 0xa1, 0x04, 0x6d, 0x75, 0x74, 0x65,
    ]);
    socket.write(Buffer.concat([header, open]));
    await expect.poll(() => listener.connections.some((c) => c.isOpen)).toBe(true);
    const t0 = performance.now();
    const error = await listener.close({ timeout: 200 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TimeoutError);
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(await portIsFree(listener.port)).toBe(true);
    socket.destroy();
  });
});
