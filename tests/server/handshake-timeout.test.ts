/**
 * Connections that never open are dropped: a socket that sends nothing, half a protocol header,
 * or only the header, is closed by the server once `handshakeTimeout` has passed, while a client
 * that opens in time is served as usual.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, listen, startBroker, type Listener } from '../../src/index.js';

let listener: Listener | undefined;
afterEach(async () => {
  await listener?.close();
  listener = undefined;
});

/** Opens a raw socket, writes `bytes`, and resolves with how long the server took to close it (or -1 after `waitMs`). */
function closedAfter(port: number, bytes: Uint8Array, waitMs: number): Promise<number> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const t0 = performance.now();
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(-1);
    }, waitMs);
    socket.on('error', () => undefined);
    socket.on('data', () => undefined); // the server's own header, if it answers one
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(performance.now() - t0);
    });
    socket.once('connect', () => {
      if (bytes.length > 0) socket.write(bytes);
    });
  });
}

const AMQP_SASL_HEADER = Uint8Array.from([0x41, 0x4d, 0x51, 0x50, 3, 1, 0, 0]);

describe('the open handshake is bounded', () => {
  it('a socket that sends nothing, half a header, or only the header is dropped after handshakeTimeout; the server serves others meanwhile', async () => {
    listener = await listen({ port: 0, handshakeTimeout: 300 });
    listener.links$.subscribe((l) => void l.acceptAsReceiver());
    const port = listener.port;
    const silent = closedAfter(port, new Uint8Array(0), 3000);
    const halfHeader = closedAfter(port, AMQP_SASL_HEADER.subarray(0, 4), 3000);
    const headerOnly = closedAfter(port, AMQP_SASL_HEADER, 3000);
    // A well-behaved client opens and works while those wait.
    const client = await connect({ url: listener.url, reconnect: false });
    const sender = await client.createSender('q');
    expect(listener.connections.length).toBe(4);
    for (const took of await Promise.all([silent, halfHeader, headerOnly])) {
      expect(took).toBeGreaterThanOrEqual(250);
      expect(took).toBeLessThan(2000);
    }
    // The server forgets them once their sockets have closed on its side too (a moment later).
    for (let i = 0; i < 100 && listener.connections.length > 1; i++) await new Promise((r) => setTimeout(r, 10));
    expect(listener.connections.length).toBe(1); // only the client that opened
    expect(client.isOpen).toBe(true);
    expect(sender.isOpen).toBe(true);
    await client.close();
  });

  it('handshakeTimeout 0 turns the bound off; a bad value is refused at once', async () => {
    listener = await listen({ port: 0, handshakeTimeout: 0 });
    expect(await closedAfter(listener.port, new Uint8Array(0), 500)).toBe(-1);
    await expect(listen({ port: 0, handshakeTimeout: -1 })).rejects.toThrow(
      /handshakeTimeout must be a non-negative number/,
    );
  });

  it('the embedded broker drops silent sockets too (its default is 10 s; here 200 ms)', async () => {
    const broker = await startBroker({ port: 0, handshakeTimeout: 200 });
    try {
      const took = await closedAfter(broker.port, new Uint8Array(0), 3000);
      expect(took).toBeGreaterThanOrEqual(150);
      expect(took).toBeLessThan(2000);
    } finally {
      await broker.close();
    }
  });
});

describe('refused logins are slow', () => {
  const authenticate = (c: { username?: string | undefined; password?: string | undefined }): boolean =>
    c.username === 'u' && c.password === 'right';

  it('a wrong password is answered only after failedLoginDelay; the right one at once', async () => {
    listener = await listen({ port: 0, sasl: { authenticate }, allowInsecurePlain: true, failedLoginDelay: 400 });
    let t0 = performance.now();
    const err = await connect({ url: listener.url, username: 'u', password: 'wrong', reconnect: false }).catch(
      (e: unknown) => e,
    );
    expect((err as Error).name).toBe('AuthenticationError');
    expect(performance.now() - t0).toBeGreaterThanOrEqual(350);
    t0 = performance.now();
    const ok = await connect({ url: listener.url, username: 'u', password: 'right', reconnect: false });
    expect(performance.now() - t0).toBeLessThan(350);
    await ok.close();
  });

  it('a listener closed while a refusal waits leaves no timer behind', async () => {
    listener = await listen({ port: 0, sasl: { authenticate }, allowInsecurePlain: true, failedLoginDelay: 5000 });
    const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const attempt = connect({
      url: listener.url,
      username: 'u',
      password: 'wrong',
      reconnect: false,
      timeout: 10_000,
    }).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 200));
    await listener.close();
    listener = undefined;
    await attempt;
    await new Promise((r) => setTimeout(r, 20));
    expect(timers()).toBeLessThanOrEqual(before);
  });
});

describe('PLAIN without TLS on this machine', () => {
  it('startBroker({ users }) on plain TCP lets a local client log in with PLAIN (the rule clients follow), and refuses a wrong password', async () => {
    const broker = await startBroker({ port: 0, users: { alice: 'secret' }, failedLoginDelay: 0 });
    try {
      const ok = await connect({ url: `amqp://alice:secret@127.0.0.1:${broker.port}`, reconnect: false });
      expect(ok.isOpen).toBe(true);
      await ok.close();
      const wrong = await connect({ url: `amqp://alice:nope@127.0.0.1:${broker.port}`, reconnect: false }).catch(
        (e: unknown) => e,
      );
      expect((wrong as Error).name).toBe('AuthenticationError');
    } finally {
      await broker.close();
    }
  });
});
