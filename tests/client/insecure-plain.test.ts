/**
 * A password goes in clear text only to this machine, decided by the address the host name
 * resolves to, never by the name's text. The "remote" peer is faked: a lookup of the test's own
 * maps names to a documentation address (203.0.113.7) or to loopback, and the only listener is on
 * 127.0.0.1, so nothing ever leaves this machine (a refused connection is refused before any
 * socket is opened; a SCRAM login to the "remote" address is carried to a loopback listener by
 * rewriting where its socket goes, below the client's decision).
 *
 * PLAIN is what sends a password in clear; SCRAM never sends it, so a client that may use SCRAM
 * connects, and only PLAIN is held back.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, listen, startBroker, type AmqpError, type Broker } from '../../src/index.js';

let broker: Broker | undefined;
afterEach(async () => {
  await broker?.close();
  broker = undefined;
});

/** A lookup that knows two names; it records what it was asked. */
function fakeDns(asked: string[]): (hostname: string) => Promise<string> {
  const table: Record<string, string> = {
    'remote.example': '203.0.113.7',
    '127.0.0.1.example': '203.0.113.7',
    'local.example': '127.0.0.1',
  };
  return (hostname) => {
    asked.push(hostname);
    const address = table[hostname];
    return address ? Promise.resolve(address) : Promise.reject(new Error(`no such name ${hostname}`));
  };
}

describe('clear-text passwords go to loopback addresses only', () => {
  it('a name that looks like loopback but resolves elsewhere is refused before any socket is opened; a name resolving to 127.0.0.1 is let through', async () => {
    broker = await startBroker({ port: 0, users: { u: 'pw' }, allowInsecurePlain: true });
    const asked: string[] = [];
    const lookup = fakeDns(asked);
    const sockets: net.Socket[] = [];
    const originalConnect = net.Socket.prototype.connect;
    // Watch every socket connect of this test: none may go to 203.0.113.7.
    const targets: string[] = [];
    net.Socket.prototype.connect = function (this: net.Socket, ...args: Parameters<typeof originalConnect>) {
      // net.connect() passes its normalized arguments as one array.
      const first: unknown = args[0];
      const o = (Array.isArray(first) ? first[0] : first) as { host?: string } | undefined;
      if (o && typeof o === 'object') targets.push(String(o.host));
      sockets.push(this);
      return originalConnect.apply(this, args);
    } as typeof originalConnect;
    try {
      for (const host of ['remote.example', '127.0.0.1.example']) {
        const err = await connect({
          url: `amqp://u:pw@${host}:${broker.port}`,
          lookup,
          reconnect: false,
          sasl: { mechanisms: ['PLAIN'] },
        }).catch((e: unknown) => e);
        expect((err as AmqpError).condition).toBe('quark:insecure-plain');
        expect((err as Error).message).toMatch(
          new RegExp(
            `clear text to ${host.replace(/\./g, '\\.')} \\(203\\.0\\.113\\.7\\), which is not a loopback address`,
          ),
        );
      }
      expect(targets).toEqual([]); // refused before connecting: nothing was sent anywhere
      const conn = await connect({ url: `amqp://u:pw@local.example:${broker.port}`, lookup, reconnect: false });
      expect(conn.isOpen).toBe(true);
      expect(targets).toEqual(['local.example']); // connected by name, to the checked address only:
      expect(sockets.at(-1)?.remoteAddress).toBe('127.0.0.1');
      await conn.close();
      expect(asked).toEqual(['remote.example', '127.0.0.1.example', 'local.example']);
      // allowInsecurePlain: true sends it anywhere (here still to loopback), and no lookup is needed.
      const allowed = await connect({
        url: `amqp://u:pw@127.0.0.1:${broker.port}`,
        allowInsecurePlain: true,
        lookup,
        reconnect: false,
      });
      await allowed.close();
      expect(asked.length).toBe(3);
    } finally {
      net.Socket.prototype.connect = originalConnect;
    }
  });

  it("the real resolver: user:password@localhost connects (every address of localhost is this machine's)", async () => {
    broker = await startBroker({ port: 0, users: { u: 'pw' }, allowInsecurePlain: true });
    const conn = await connect({ url: `amqp://u:pw@localhost:${broker.port}`, reconnect: false });
    expect(conn.isOpen).toBe(true);
    await conn.close();
  });

  it('a refusal is not retried: with reconnect and retryFirstConnect, connect() still fails at once', async () => {
    const asked: string[] = [];
    const t0 = performance.now();
    const err = await connect({
      url: 'amqp://u:pw@remote.example:5672',
      lookup: fakeDns(asked),
      reconnect: { retryFirstConnect: true },
      sasl: { mechanisms: ['PLAIN'] },
    }).catch((e: unknown) => e);
    expect((err as AmqpError).condition).toBe('quark:insecure-plain');
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(asked).toEqual(['remote.example']);
  });

  describe('SCRAM to a "remote" address without TLS', () => {
    /** Sends every socket aimed at 203.0.113.7 to 127.0.0.1 instead, after the client decided by 203.0.113.7. */
    function divertRemoteToLoopback(): () => void {
      const originalConnect = net.Socket.prototype.connect;
      net.Socket.prototype.connect = function (this: net.Socket, ...args: Parameters<typeof originalConnect>) {
        const first: unknown = args[0];
        const o = (Array.isArray(first) ? first[0] : first) as net.TcpSocketConnectOpts | undefined;
        if (o && typeof o === 'object' && typeof o.lookup === 'function') {
          const lookup = o.lookup;
          o.lookup = ((hostname: string, options: object, callback: (...a: unknown[]) => void) =>
            lookup(
              hostname,
              options as never,
              ((err: Error | null, address: unknown, family?: number) => {
                const divert = (a: string): string => (a === '203.0.113.7' ? '127.0.0.1' : a);
                if (Array.isArray(address))
                  callback(
                    err,
                    address.map((e: { address: string; family: number }) => ({ ...e, address: divert(e.address) })),
                  );
                else callback(err, divert(String(address)), family);
              }) as never,
            )) as never;
        }
        return originalConnect.apply(this, args);
      } as typeof originalConnect;
      return () => (net.Socket.prototype.connect = originalConnect);
    }

    it('logs in with SCRAM (the password never crosses the wire); PLAIN is not used even though the server offers it', async () => {
      broker = await startBroker({ port: 0, users: { u: 'pw' }, allowInsecurePlain: true });
      const restore = divertRemoteToLoopback();
      try {
        const conn = await connect({
          url: `amqp://u:pw@remote.example:${broker.port}`,
          lookup: fakeDns([]),
          reconnect: false,
        });
        expect(conn.authentication).toEqual({ mechanism: 'SCRAM-SHA-512', username: 'u' });
        await conn.close();
        // Asked for PLAIN only, it is refused before a socket is opened.
        const err = await connect({
          url: `amqp://u:pw@remote.example:${broker.port}`,
          lookup: fakeDns([]),
          reconnect: false,
          sasl: { mechanisms: ['PLAIN', 'ANONYMOUS'] },
        }).catch((e: unknown) => e);
        expect((err as AmqpError).condition).toBe('quark:insecure-plain');
      } finally {
        restore();
      }
    });

    it('a server that offers only PLAIN gets no password: the client stops with quark:insecure-plain, saying what to do', async () => {
      const seen: string[] = [];
      const listener = await listen({
        allowInsecurePlain: true,
        sasl: { mechanisms: ['PLAIN'], authenticate: (c) => (seen.push(c.mechanism), true) },
      });
      const restore = divertRemoteToLoopback();
      try {
        const err = await connect({
          url: `amqp://u:pw@remote.example:${listener.port}`,
          lookup: fakeDns([]),
          reconnect: false,
        }).catch((e: unknown) => e);
        expect((err as AmqpError).condition).toBe('quark:insecure-plain');
        expect((err as Error).message).toMatch(
          /clear text to remote\.example \(203\.0\.113\.7\), which is not a loopback address, and the server offers no SCRAM mechanism: use amqps:\/\/ \(TLS\)/,
        );
        expect(seen).toEqual([]); // the server never got a sasl-init, let alone a password
      } finally {
        restore();
        await listener.close();
      }
    });
  });
});
