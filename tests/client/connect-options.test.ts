/** connect() refuses what it does not know, at once and naming it: nothing is silently ignored. */
import { describe, expect, it } from 'vitest';
import { connect, type ConnectOptions } from '../../src/index.js';

describe('connect() options', () => {
  it('an unknown or misspelt option is refused with a TypeError naming it, before anything is opened', async () => {
    await expect(connect({ url: 'amqp://127.0.0.1:1', reconect: false } as unknown as ConnectOptions)).rejects.toThrow(/connect: unknown option "reconect"/);
    await expect(connect({ url: 'amqp://127.0.0.1:1', websocket: true } as unknown as ConnectOptions)).rejects.toThrow(/does not speak AMQP over WebSocket/);
    await expect(connect({ url: 'amqp://127.0.0.1:1', sasl: { mechanism: ['PLAIN'] } } as unknown as ConnectOptions)).rejects.toThrow(/sasl takes mechanisms and authzid/);
  });
});

describe('link and send options', () => {
  it("deliveryMode 'mixed' and send(m, { settled: true }) are refused with a TypeError saying they are not supported yet, not ignored", async () => {
    const { startBroker } = await import('../../src/index.js');
    const broker = await startBroker({ port: 0 });
    const conn = await connect({ url: broker.url, reconnect: false });
    try {
      await expect(conn.createSender('q', { deliveryMode: 'mixed' as unknown as 'at-most-once' })).rejects.toThrow(/'mixed', settling message by message, is not supported yet/);
      await expect(conn.createReceiver('q', { rcvSettleMode: 'third' as unknown as 'first' })).rejects.toThrow(/rcvSettleMode must be 'first' or 'second'/);
      const sender = await conn.createSender('q');
      await expect(sender.send({ body: 1 }, { settled: true } as never)).rejects.toThrow(/send option "settled" is not supported/);
      await expect(sender.sendPayload(new Uint8Array([0]), { priority: 1 } as never)).rejects.toThrow(/send option "priority" is not supported/);
      await expect(sender.send({ body: 2 })).resolves.toEqual({ kind: 'accepted' }); // nothing else was sent
      expect(broker.queue('q')?.depth).toBe(1);
    } finally {
      await conn.close();
      await broker.stop();
    }
  });
});
