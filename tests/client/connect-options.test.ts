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
