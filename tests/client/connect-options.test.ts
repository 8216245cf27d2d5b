/** connect() refuses what it does not know, at once and naming it: nothing is silently ignored. */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, connect, type ConnectOptions } from '../../src/index.js';

describe('connect() options', () => {
  it('an unknown or misspelt option is refused with an InvalidArgumentError naming it, before anything is opened', async () => {
    await expect(connect({ url: 'amqp://127.0.0.1:1', reconect: false } as unknown as ConnectOptions)).rejects.toThrow(
      /connect: unknown option "reconect"/,
    );
    await expect(
      connect({ url: 'amqp://127.0.0.1:1', reconect: false } as unknown as ConnectOptions),
    ).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(connect({ url: 'amqp://127.0.0.1:1', websocket: true } as unknown as ConnectOptions)).rejects.toThrow(
      /the websocket options apply to ws:\/\/ and wss:\/\/ URLs only/,
    );
    await expect(
      connect({ url: 'amqp://127.0.0.1:1', sasl: { mechanism: ['PLAIN'] } } as unknown as ConnectOptions),
    ).rejects.toThrow(/sasl takes mechanisms and authzid/);
  });
});

describe('link and send options', () => {
  it("deliveryMode 'mixed' settles message by message (send(m, { settled: true }) is at most once), other senders refuse settled; unknown options are refused, not ignored", async () => {
    const { startBroker } = await import('../../src/index.js');
    const broker = await startBroker({ port: 0 });
    const conn = await connect({ url: broker.url, reconnect: false });
    try {
      const mixed = await conn.createSender('q', { deliveryMode: 'mixed' });
      await expect(mixed.send({ body: 'at most once' }, { settled: true })).resolves.toBeUndefined();
      await expect(mixed.send({ body: 'at least once' })).resolves.toEqual({ kind: 'accepted' });
      await expect.poll(() => broker.queue('q')?.depth).toBe(2);
      await mixed.close();
      await expect(conn.createSender('q', { deliveryMode: 'sometimes' as unknown as 'mixed' })).rejects.toThrow(
        /deliveryMode must be 'at-least-once', 'at-most-once' or 'mixed'/,
      );
      await expect(conn.createReceiver('q', { rcvSettleMode: 'third' as unknown as 'first' })).rejects.toThrow(
        /rcvSettleMode must be 'first' or 'second'/,
      );
      const sender = await conn.createSender('q');
      await expect(sender.send({ body: 1 }, { settled: true })).rejects.toThrow(
        /needs a sender made with deliveryMode 'mixed'/,
      );
      await expect(sender.sendPayload(new Uint8Array([0]), { priority: 1 } as never)).rejects.toThrow(
        /send option "priority" is not supported/,
      );
      await expect(sender.send({ body: 2 })).resolves.toEqual({ kind: 'accepted' }); // nothing else was sent
      expect(broker.queue('q')?.depth).toBe(3);
    } finally {
      await conn.close();
      await broker.close();
    }
  });
});

describe('server-side and helper options', () => {
  it('listen, startBroker, acceptAsReceiver/acceptAsSender, createResponder and unknown SASL mechanisms are refused, naming the option', async () => {
    const { startBroker, listen } = await import('../../src/index.js');
    await expect(startBroker({ port: 0, queueLimt: 5 } as never)).rejects.toThrow(
      /startBroker: unknown option "queueLimt"/,
    );
    await expect(listen({ port: 0, bogus: 1 } as never)).rejects.toThrow(/listen: unknown option "bogus"/);
    await expect(listen({ port: 0, sasl: { mechanisms: ['PLAIN'], user: {} } } as never)).rejects.toThrow(
      /listen: sasl: unknown option "user"/,
    );
    await expect(connect({ url: 'amqp://127.0.0.1:1', sasl: { mechanisms: ['GSSAPI'] } })).rejects.toThrow(
      /sasl.mechanisms "GSSAPI" cannot be run by Quark/,
    );

    const refusals: string[] = [];
    const listener = await listen({ port: 0, allowNoSasl: true });
    listener.links$.subscribe((link) => {
      try {
        if (link.role === 'receiver') link.acceptAsReceiver({ credits: 5 } as never);
        else link.acceptAsSender({ selector: 'x' } as never);
      } catch (error) {
        refusals.push((error as Error).message);
        link.refuse();
      }
    });
    const conn = await connect({ url: listener.url, sasl: false, reconnect: false });
    try {
      await expect(conn.createSender('q')).rejects.toThrow();
      await expect(conn.createReceiver('q')).rejects.toThrow();
      expect(refusals).toEqual([
        expect.stringMatching(/acceptAsReceiver: unknown option "credits"/),
        expect.stringMatching(/acceptAsSender: unknown option "selector"/),
      ]);
      await expect(conn.createResponder('rpc', () => ({ body: 'reply' }), { concurency: 2 } as never)).rejects.toThrow(
        /createResponder: unknown option "concurency"/,
      );
    } finally {
      await conn.close();
      await listener.close();
    }
  });
});
