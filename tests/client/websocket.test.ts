import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  ListenError,
  AuthenticationError,
  ConnectionClosedError,
  SaslUsers,
  TlsError,
  WebSocketError,
  connect,
  listen,
  startBroker,
  type Broker,
  type Connection,
  type QuarkEvent,
} from '../../src/index.js';
import { selfSignedLocalhost } from '../support/self-signed-certificate.js';

let cert: Buffer;
let key: Buffer;
beforeAll(() => {
  ({ cert, key } = selfSignedLocalhost());
});

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
function later<T extends { close(): Promise<unknown> } | { stop(): Promise<unknown> }>(thing: T): T {
  cleanups.push(() => ('close' in thing ? thing.close() : thing.stop()));
  return thing;
}

/** An HTTP server of the test's own, closed after the test. */
async function httpServer(
  server: http.Server | https.Server = http.createServer(),
): Promise<{ server: http.Server | https.Server; port: number }> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  return { server, port: (server.address() as AddressInfo).port };
}

/** A send and a receive through the broker, the send resolved by its settlement. */
async function roundTrip(connection: Connection, address: string, body: string): Promise<void> {
  const sender = await connection.createSender(address);
  await expect(sender.send({ body })).resolves.toEqual({ kind: 'accepted' });
  const receiver = await connection.createReceiver(address);
  const delivery = await receiver.receive({ timeout: 5000 });
  expect(delivery.message.body).toBe(body);
  delivery.accept();
  await sender.close();
  await receiver.close();
}

describe('AMQP over WebSocket: client and listener', () => {
  it('ws:// carries messages both ways with settlement, on the path the listener serves', async () => {
    const broker = later(await startBroker({ port: 0, websocket: { path: '/amqp' } }));
    expect(broker.websocketUrl).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/amqp$/);
    const connection = later(await connect(broker.websocketUrl!));
    expect(connection.tls).toBeUndefined();
    await roundTrip(connection, 'ws-queue', 'over a WebSocket');
    // The TCP port of the same broker serves the same queues.
    const tcp = later(await connect(broker.url));
    const sender = await tcp.createSender('shared');
    await sender.send({ body: 'from TCP' });
    const receiver = await connection.createReceiver('shared');
    const delivery = await receiver.receive({ timeout: 5000 });
    expect(delivery.message.body).toBe('from TCP');
    delivery.accept();
  });

  it('a ws-only listener (tcp: false) has no TCP port and gives its WebSocket URL as its url', async () => {
    const listener = later(await listen({ tcp: false, websocket: {} }));
    expect(listener.port).toBe(0);
    expect(listener.url).toBe(listener.websocketUrl);
    expect(listener.url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/$/);
    void (async () => {
      for await (const link of listener) for await (const d of link.acceptAsReceiver()) d.accept();
    })().catch(() => undefined);
    const connection = later(await connect(listener.url));
    const sender = await connection.createSender('q');
    await expect(sender.send({ body: 'x' })).resolves.toEqual({ kind: 'accepted' });
  });

  it('wss:// verifies the server with the amqps TLS options, and connection.tls describes the session', async () => {
    const broker = later(await startBroker({ port: 0, tls: { cert, key }, websocket: {} }));
    expect(broker.websocketUrl).toMatch(/^wss:/);
    const url = broker.websocketUrl!.replace('127.0.0.1', 'localhost');
    const connection = later(await connect({ url, tls: { ca: cert } }));
    expect(connection.tls).toMatchObject({
      authorized: true,
      protocol: expect.stringMatching(/^TLSv1\.[23]$/) as unknown,
    });
    await roundTrip(connection, 'secure', 'over wss');
  });

  it('wss:// refuses a server certificate it cannot verify with a TlsError, not retried', async () => {
    const broker = later(await startBroker({ port: 0, tls: { cert, key }, websocket: {} }));
    const t0 = performance.now();
    const error = await connect({
      url: broker.websocketUrl!.replace('127.0.0.1', 'localhost'),
      reconnect: { retryFirstConnect: true },
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TlsError);
    expect(error).toMatchObject({ reason: 'self-signed', condition: 'quark:tls-failed' });
    expect(performance.now() - t0).toBeLessThan(2000);
    // servername is the amqps option too: a name the certificate lacks fails the host check.
    const mismatch = await connect({
      url: broker.websocketUrl!,
      tls: { ca: cert, servername: 'elsewhere.example' },
    }).catch((e: unknown) => e);
    expect(mismatch).toMatchObject({ reason: 'hostname-mismatch' });
  });

  it('logs in with SCRAM and PLAIN over ws, and PLAIN over wss; a wrong password is an AuthenticationError', async () => {
    const broker = later(
      await startBroker({
        port: 0,
        users: { alice: 'wonder land' },
        tls: { cert, key },
        websocket: {},
        failedLoginDelay: 0,
      }),
    );
    const plainWss = broker.websocketUrl!.replace('wss://127.0.0.1', 'wss://localhost');
    // The broker's WebSocket port serves TLS (its tls applies): wss only.
    const scram = later(
      await connect({
        url: plainWss,
        username: 'alice',
        password: 'wonder land',
        tls: { ca: cert },
        sasl: { mechanisms: ['SCRAM-SHA-256'] },
      }),
    );
    expect(scram.authentication).toEqual({ mechanism: 'SCRAM-SHA-256', username: 'alice' });
    const plain = later(
      await connect({
        url: plainWss,
        username: 'alice',
        password: 'wonder land',
        tls: { ca: cert },
        sasl: { mechanisms: ['PLAIN'] },
      }),
    );
    expect(plain.authentication).toMatchObject({ mechanism: 'PLAIN' });
    await expect(
      connect({ url: plainWss, username: 'alice', password: 'wrong', tls: { ca: cert } }),
    ).rejects.toBeInstanceOf(AuthenticationError);

    const clear = later(await startBroker({ port: 0, users: { bob: 'builder' }, websocket: {} }));
    const overWs = later(
      await connect({
        url: clear.websocketUrl!,
        username: 'bob',
        password: 'builder',
        sasl: { mechanisms: ['PLAIN'] },
      }),
    );
    expect(overWs.authentication).toMatchObject({ mechanism: 'PLAIN', username: 'bob' });
    const scramWs = later(await connect({ url: clear.websocketUrl!, username: 'bob', password: 'builder' }));
    expect(scramWs.authentication?.mechanism).toBe('SCRAM-SHA-512');
  });

  it("the listener on the other side sees the WebSocket client's authentication and address", async () => {
    const listener = later(
      await listen({ tcp: false, websocket: {}, sasl: { users: SaslUsers.fromPasswords({ carol: 'pw' }) } }),
    );
    const opened = new Promise<Connection>((resolve) => listener.connections$.subscribe(resolve));
    later(await connect({ url: listener.url, username: 'carol', password: 'pw' }));
    const server = await opened;
    expect(server.authentication).toMatchObject({ username: 'carol' });
    expect(server.transport?.socket?.remoteAddress).toBe('127.0.0.1');
  });

  it('maxConnections counts WebSocket and TCP clients together', async () => {
    const listener = later(await listen({ maxConnections: 1, websocket: {} }));
    later(await connect({ url: listener.url, reconnect: false }));
    const error = await connect({ url: listener.websocketUrl!, reconnect: false }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectionClosedError);
    expect((error as Error).message).toMatch(/maxConnections|sys-temp|limit/i);
  });

  it('a refused upgrade is a WebSocketError with the HTTP status: a wrong path (404), verifyRequest saying no (403)', async () => {
    const listener = later(
      await listen({
        tcp: false,
        websocket: { path: '/amqp', verifyRequest: (request) => request.headers.authorization === 'Bearer good' },
      }),
    );
    const base = listener.websocketUrl!.replace(/\/amqp$/, '');
    const wrongPath = await connect({ url: `${base}/other`, reconnect: false }).catch((e: unknown) => e);
    expect(wrongPath).toBeInstanceOf(WebSocketError);
    expect(wrongPath).toMatchObject({ reason: 'handshake', status: 404, condition: 'quark:websocket-failed' });
    expect((wrongPath as Error).message).toMatch(/HTTP status 404: check the path in the URL/);
    const refused = await connect({ url: listener.url, reconnect: false }).catch((e: unknown) => e);
    expect(refused).toMatchObject({ reason: 'handshake', status: 403 });
    expect((refused as Error).message).toMatch(/websocket\.headers/);
    // The extra headers of the upgrade reach verifyRequest.
    later(await connect({ url: listener.url, websocket: { headers: { Authorization: 'Bearer good' } } }));
  });

  it('a peer that does not agree to the amqp subprotocol is a WebSocketError (subprotocol), not retried', async () => {
    const { server, port } = await httpServer();
    const wss = new WebSocketServer({ server, handleProtocols: () => false });
    cleanups.push(() => new Promise<void>((resolve) => wss.close(() => resolve())));
    const t0 = performance.now();
    const error = await connect({ url: `ws://127.0.0.1:${port}/`, reconnect: { retryFirstConnect: true } }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(WebSocketError);
    expect(error).toMatchObject({ reason: 'subprotocol' });
    expect((error as Error).message).toMatch(/did not agree to the "amqp" WebSocket subprotocol/);
    expect(performance.now() - t0).toBeLessThan(2000);
  });

  it('the listener answers 400 to an upgrade without the amqp subprotocol, and 426 to plain HTTP', async () => {
    const listener = later(await listen({ tcp: false, websocket: {} }));
    const status = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(listener.url, ['mqtt']);
      ws.on('unexpected-response', (_request, response) => {
        resolve(response.statusCode ?? 0);
        ws.terminate();
      });
      ws.on('error', () => undefined);
      ws.on('open', () => reject(new Error('opened without the amqp subprotocol')));
    });
    expect(status).toBe(400);
    const plain = await fetch(listener.url.replace('ws:', 'http:'));
    expect(plain.status).toBe(426);
    expect(await plain.text()).toMatch(/AMQP over WebSocket/);
  });

  it('a text message from the server ends the connection with a WebSocketError (text-message)', async () => {
    const { server, port } = await httpServer();
    const wss = new WebSocketServer({ server });
    cleanups.push(() => new Promise<void>((resolve) => wss.close(() => resolve())));
    wss.on('connection', (ws) => ws.send('AMQP as text'));
    const error = await connect({ url: `ws://127.0.0.1:${port}/`, reconnect: false }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WebSocketError);
    expect(error).toMatchObject({ reason: 'text-message' });
    expect((error as Error).message).toMatch(/binary messages only/);
  });

  it('a text message after the connection opened ends it with a WebSocketError too, not as a plain loss', async () => {
    const broker = later(await startBroker({ port: 0 }));
    // A WebSocket front for the broker's TCP port that, on cue, sends a text message.
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', handleProtocols: () => 'amqp' });
    await new Promise((resolve) => wss.once('listening', resolve));
    cleanups.push(() => new Promise<void>((resolve) => wss.close(() => resolve())));
    const fronts: WebSocket[] = [];
    wss.on('connection', (ws) => {
      fronts.push(ws);
      const tcp = net.connect(broker.port, '127.0.0.1');
      tcp.on('data', (bytes) => ws.send(bytes, { binary: true }));
      ws.on('message', (bytes) => tcp.write(bytes as Buffer));
      ws.on('close', () => tcp.destroy());
      tcp.on('close', () => ws.terminate());
    });
    const connection = later(
      await connect({ url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`, reconnect: false }),
    );
    const disconnected = new Promise<QuarkEvent>((resolve) =>
      connection.events$.subscribe((e) => e.type === 'disconnected' && resolve(e)),
    );
    fronts[0]!.send('now some text');
    const event = (await disconnected) as Extract<QuarkEvent, { type: 'disconnected' }>;
    expect(event.error).toBeInstanceOf(WebSocketError);
    expect(event.error).toMatchObject({ reason: 'text-message' });
  });

  it('handshakeTimeout drops a socket that sends no upgrade request', async () => {
    const listener = later(await listen({ tcp: false, websocket: {}, handshakeTimeout: 300 }));
    const silent = net.connect(listener.websocketPort!, '127.0.0.1');
    silent.on('error', () => undefined);
    silent.resume(); // reads, so that it sees the server's end
    await new Promise((resolve) => silent.once('connect', resolve));
    const t0 = performance.now();
    await new Promise((resolve) => silent.once('close', resolve));
    expect(performance.now() - t0).toBeLessThan(2000);
  });

  it('handshakeTimeout drops a WebSocket client that sends no AMQP', async () => {
    const listener = later(await listen({ tcp: false, websocket: {}, handshakeTimeout: 300 }));
    const mute = new WebSocket(listener.url, ['amqp']);
    mute.on('error', () => undefined);
    await new Promise((resolve) => mute.once('open', resolve));
    const t0 = performance.now();
    const code = await new Promise<number>((resolve) => mute.once('close', resolve));
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(code).toBe(1006); // dropped, as a TCP client would be
  });

  it('a text message from a client is answered with close code 1003 by the listener', async () => {
    const listener = later(await listen({ tcp: false, websocket: {} }));
    const closed = await new Promise<{ code: number; reason: string }>((resolve) => {
      const ws = new WebSocket(listener.url, ['amqp']);
      ws.on('open', () => ws.send('AMQP as text'));
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    });
    expect(closed).toEqual({ code: 1003, reason: 'AMQP takes binary messages only' });
    await vi.waitFor(() => expect(listener.connections).toHaveLength(0));
  });

  it('takes upgrades from an HTTP server of the application, for its path only, leaving the rest to the application', async () => {
    const app = http.createServer((_request, response) => response.end('app page'));
    const { server, port } = await httpServer(app);
    const echo = new WebSocketServer({ noServer: true });
    server.on('upgrade', (request, socket, head) => {
      // The application's own upgrades; /amqp is the listener's.
      if (request.url === '/echo')
        echo.handleUpgrade(request, socket, head, (ws) => ws.on('message', (m) => ws.send(m)));
      else if (request.url !== '/amqp') socket.destroy();
    });
    const listener = later(await listen({ tcp: false, websocket: { server, path: '/amqp' } }));
    expect(listener.url).toBe(`ws://127.0.0.1:${port}/amqp`);
    void (async () => {
      for await (const link of listener) for await (const d of link.acceptAsReceiver()) d.accept();
    })().catch(() => undefined);
    const connection = later(await connect(listener.url));
    await expect((await connection.createSender('q')).send({ body: 'beside the app' })).resolves.toEqual({
      kind: 'accepted',
    });
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe('app page');
    const echoed = await new Promise<string>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/echo`);
      ws.on('open', () => ws.send('ping'));
      ws.on('message', (m) => {
        resolve(String(m));
        ws.close();
      });
    });
    expect(echoed).toBe('ping');
    await connection.close();
    await listener.close();
    // Closing the listener leaves the application's server serving.
    expect(server.listening).toBe(true);
    expect(server.listenerCount('upgrade')).toBe(1);
  });

  it('on an https.Server of the application, clients get its TLS (wss://), and the listener sees it', async () => {
    const { server, port } = await httpServer(https.createServer({ cert, key }));
    const listener = later(await listen({ tcp: false, websocket: { server, path: '/amqp' } }));
    expect(listener.url).toBe(`wss://127.0.0.1:${port}/amqp`);
    const opened = new Promise<Connection>((resolve) => listener.connections$.subscribe(resolve));
    const connection = later(await connect({ url: `wss://localhost:${port}/amqp`, tls: { ca: cert } }));
    expect(connection.tls?.authorized).toBe(true);
    expect((await opened).tls?.protocol).toMatch(/^TLSv1\.[23]$/);
  });

  it('goes through the http.Agent given (how a proxy is used)', async () => {
    const listener = later(await listen({ tcp: false, websocket: {} }));
    let sockets = 0;
    class CountingAgent extends http.Agent {
      override createConnection(
        ...args: Parameters<http.Agent['createConnection']>
      ): ReturnType<http.Agent['createConnection']> {
        sockets++;
        return super.createConnection(...args);
      }
    }
    const agent = new CountingAgent();
    const connection = later(await connect({ url: listener.url, websocket: { agent } }));
    expect(connection.isOpen).toBe(true);
    expect(sockets).toBe(1);
    agent.destroy();
  });

  for (const secure of [false, true]) {
    it(`reconnects over ${secure ? 'wss' : 'ws'} when the server restarts on the same port, and the same sender goes on`, async () => {
      const tls = secure ? { cert, key } : undefined;
      let broker: Broker = await startBroker({ port: 0, tls, websocket: {} });
      cleanups.push(() => broker.stop());
      const wsPort = Number(new URL(broker.websocketUrl!).port);
      const connection = later(
        await connect({
          url: broker.websocketUrl!.replace('127.0.0.1', 'localhost'),
          tls: secure ? { ca: cert } : undefined,
          reconnect: { initialDelay: 50, maxDelay: 200 },
        }),
      );
      const events: QuarkEvent['type'][] = [];
      connection.events$.subscribe((e) => events.push(e.type));
      const sender = await connection.createSender('survives');
      await sender.send({ body: 'before' });
      const reconnected = new Promise<void>((resolve) =>
        connection.events$.subscribe((e) => e.type === 'reconnected' && resolve()),
      );
      await broker.stop();
      broker = await startBroker({ port: 0, tls, websocket: { port: wsPort } });
      await reconnected;
      await expect(sender.send({ body: 'after' })).resolves.toEqual({ kind: 'accepted' });
      expect(events).toContain('disconnected');
      expect(broker.websocketUrl).toContain(`:${wsPort}/`);
    });
  }

  it('fails over along a list of ws URLs', async () => {
    const dead = await listen({ tcp: false, websocket: {} });
    const deadUrl = dead.url;
    await dead.close();
    const broker = later(await startBroker({ port: 0, websocket: { path: '/b' } }));
    const connection = later(
      await connect({
        urls: [deadUrl, broker.websocketUrl!],
        reconnect: { retryFirstConnect: true, initialDelay: 10 },
      }),
    );
    expect(connection.isOpen).toBe(true);
    await roundTrip(connection, 'failover', 'second peer');
  });

  it('close() leaves no socket, timer or listener behind, on either side', async () => {
    // Counted by kind: none may be more than before (earlier tests' sockets may still be closing).
    const resources = (): Record<string, number> => {
      const counts: Record<string, number> = {};
      for (const r of process.getActiveResourcesInfo())
        if (/^(TCP|Immediate|Pipe|TLS)/.test(r)) counts[r] = (counts[r] ?? 0) + 1;
      return counts;
    };
    const noMoreThan = (now: Record<string, number>, then: Record<string, number>): string[] =>
      Object.keys(now).filter((k) => now[k]! > (then[k] ?? 0));
    const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
    await turn();
    const before = resources();
    const timersBefore = timers();
    const listenersBefore = process.listenerCount('exit') + process.listenerCount('beforeExit');
    for (const tls of [undefined, { cert, key }]) {
      const broker = await startBroker({ port: 0, tls, websocket: {}, handshakeTimeout: 5000 });
      const connection = await connect({
        url: broker.websocketUrl!.replace('127.0.0.1', 'localhost'),
        tls: tls && { ca: cert },
        idleTimeout: 5000,
      });
      await roundTrip(connection, 'leak', 'x');
      await connection.close();
      await broker.stop();
    }
    for (let i = 0; i < 20 && noMoreThan(resources(), before).length > 0; i++)
      await new Promise((resolve) => setTimeout(resolve, 10));
    await turn();
    expect(noMoreThan(resources(), before)).toEqual([]);
    expect(timers()).toBeLessThanOrEqual(timersBefore);
    expect(process.listenerCount('exit') + process.listenerCount('beforeExit')).toBe(listenersBefore);
  });
});

describe('WebSocket options are checked at once', () => {
  it('refuses what it does not support, naming it', async () => {
    await expect(
      connect({ url: 'ws://127.0.0.1:1/', websocket: { proxy: 'http://proxy:3128' } as never }),
    ).rejects.toThrow(/websocket\.proxy is not supported; .*websocket\.agent/);
    await expect(connect({ url: 'ws://127.0.0.1:1/', websocket: { header: {} } as never })).rejects.toThrow(
      /unknown option websocket\.header; the websocket options are headers, agent/,
    );
    await expect(connect({ url: 'amqp://127.0.0.1:1', websocket: {} })).rejects.toThrow(
      /apply to ws:\/\/ and wss:\/\/ URLs only/,
    );
    await expect(
      connect({ url: 'ws://127.0.0.1:1/', websocket: { headers: { 'Sec-WebSocket-Protocol': 'mqtt' } } }),
    ).rejects.toThrow(/cannot set Sec-WebSocket-Protocol/);
    await expect(
      connect({ url: 'ws://127.0.0.1:1/', websocket: { headers: { 'X-A': 'a\r\nInjected: 1' } } }),
    ).rejects.toThrow(/line break or control character/);
    await expect(connect({ url: 'ws://127.0.0.1:1/#frag' })).rejects.toThrow(/fragment/);
    await expect(listen({ tcp: false })).rejects.toThrow(/give websocket too/);
    await expect(listen({ tcp: false, port: 5, websocket: {} })).rejects.toThrow(/websocket\.port/);
    await expect(listen({ websocket: { path: 'amqp' } })).rejects.toThrow(/HTTP path such as "\/amqp"/);
    await expect(listen({ websocket: { subprotocol: 'x' } as never })).rejects.toThrow(/unknown option "subprotocol"/);
    await expect(listen({ tls: { cert, key }, websocket: { server: http.createServer() } })).rejects.toThrow(
      /https\.Server for wss/,
    );
    await expect(listen({ websocket: { server: http.createServer(), port: 1 } })).rejects.toThrow(
      /cannot be given with websocket\.server/,
    );
  });

  it('a port that cannot be bound fails listen() and leaves no server behind, TCP or WebSocket', async () => {
    const busy = later(await listen({}));
    const servers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'TCPServerWrap').length;
    const before = servers();
    // Both said alike: a ListenError naming the port, with the system code.
    for (const options of [{ port: busy.port, websocket: {} }, { websocket: { port: busy.port } }]) {
      const error = await listen(options).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(ListenError);
      expect(error).toMatchObject({ code: 'EADDRINUSE', condition: 'quark:listen-failed' });
      expect((error as Error).message).toContain(String(busy.port));
    }
    await new Promise((resolve) => setImmediate(resolve));
    expect(servers()).toBe(before);
  });

  it('a ws URL shows its scheme and path (never the password) in events and errors', async () => {
    const error = await connect({
      url: 'ws://user:secret@127.0.0.1:1/gateway/amqp',
      reconnect: false,
      allowInsecurePlain: true,
    }).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/127\.0\.0\.1:1/);
    expect((error as Error).message).not.toMatch(/secret/);
  });
});

describe('the Container over WebSocket', () => {
  it('container.listen("ws://host:port/path") listens for WebSocket only, and a container connects to it', async () => {
    const { Container } = await import('../../src/index.js');
    const seen: unknown[] = [];
    let url: string | undefined;
    let listener: { close(): void } | undefined;
    await new Container({
      onStart(e) {
        const l = e.container.listen('ws://127.0.0.1:0/amqp');
        listener = l;
        void l.listening.then((bound) => {
          url = bound.url;
          e.container.createSender(e.container.connect(bound.url!), 'examples');
        });
      },
      onSendable(e) {
        e.sender.send({ body: 'Hello over ws' });
        e.sender.close();
      },
      onMessage: (e) => void seen.push(e.message.body),
      onAccepted: (e) => e.connection.close(),
      onConnectionClosed: () => listener?.close(),
    }).run();
    expect(url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/amqp$/);
    expect(seen).toEqual(['Hello over ws']);
    expect(() => new Container({}).listen('wss://127.0.0.1:0/')).toThrow(/wss:\/\/ URL needs TLS options/);
  });
});
