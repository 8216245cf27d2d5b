import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TlsError, connect, listen, type Connection, type Listener } from '../../src/index.js';
import { selfSignedLocalhost } from '../support/self-signed-certificate.js';

let cert: Buffer;
let key: Buffer;
beforeAll(() => {
  ({ cert, key } = selfSignedLocalhost());
});

let listener: Listener | undefined;
let client: Connection | undefined;
afterEach(async () => {
  await client?.close();
  await listener?.close();
  client = undefined;
  listener = undefined;
});

describe('TLS', () => {
  it('amqps:// verifies the server against the given CA and carries messages', async () => {
    listener = await listen({ tls: { cert, key } });
    expect(listener.url).toMatch(/^amqps:/);
    void (async () => {
      for await (const link of listener!) {
        const r = link.acceptAsReceiver();
        for await (const d of r) d.accept();
      }
    })().catch(() => undefined);
    client = await connect({ url: `amqps://localhost:${listener.port}`, tls: { ca: cert } });
    const sender = await client.createSender('secure');
    await expect(sender.send({ body: 'over TLS' })).resolves.toEqual({ kind: 'accepted' });
  });

  it('refuses a server whose certificate it cannot verify, with a TlsError saying why and what to do; not retried', async () => {
    listener = await listen({ tls: { cert, key } });
    const t0 = performance.now();
    const err = await connect({
      url: `amqps://localhost:${listener.port}`,
      reconnect: { retryFirstConnect: true },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TlsError);
    expect(err).toMatchObject({
      reason: 'self-signed',
      code: 'DEPTH_ZERO_SELF_SIGNED_CERT',
      condition: 'quark:tls-failed',
    });
    expect((err as Error).message).toMatch(
      /self-signed and not trusted\. Give that certificate \(or its CA\) in tls\.ca/,
    );
    expect(performance.now() - t0).toBeLessThan(2000); // a certificate failure does not heal by retrying
  });

  it('sends PLAIN credentials over TLS to a server that offers PLAIN only over TLS', async () => {
    listener = await listen({
      tls: { cert, key },
      sasl: { authenticate: (c) => c.username === 'ü' && c.password === 'pässwörd✓' },
    });
    client = await connect({
      url: `amqps://localhost:${listener.port}`,
      username: 'ü',
      password: 'pässwörd✓',
      tls: { ca: cert },
    });
    expect(client.isOpen).toBe(true);
  });

  it('reconnects over TLS: a failover list mixing amqp:// and amqps:// uses TLS (verified, with PLAIN) for the amqps peer only', async () => {
    const { startBroker } = await import('../../src/index.js');
    const plainBroker = await startBroker({ port: 0 });
    const tlsBroker = await startBroker({ port: 0, tls: { cert, key }, users: { u: 'pw' } });
    try {
      client = await connect({
        urls: [`amqp://127.0.0.1:${plainBroker.port}`, `amqps://u:pw@localhost:${tlsBroker.port}`],
        tls: { ca: cert },
        reconnect: { initialDelay: 20, maxDelay: 100 },
      });
      const sender = await client.createSender('q');
      await sender.send({ body: 'plain' });
      const reconnected = new Promise<string>((resolve) =>
        client!.events$.subscribe((e) => e.type === 'reconnected' && resolve(e.url)),
      );
      await plainBroker.close();
      expect(await reconnected).toBe(`amqps://u@localhost:${tlsBroker.port}`);
      await expect(sender.send({ body: 'over TLS after failover' })).resolves.toEqual({ kind: 'accepted' });
      expect(tlsBroker.queue('q')?.depth).toBe(1);
    } finally {
      await client?.close();
      client = undefined;
      await tlsBroker.close();
    }
  });
});
