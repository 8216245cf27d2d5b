/** Link credit is a uint: a window of 2^31 or more (up to 2^32-1) must work like any other. */
import { afterEach, describe, expect, it } from 'vitest';
import { connect, startBroker, type Broker, type Connection } from '../../src/index.js';

let broker: Broker | undefined;
let conn: Connection | undefined;
afterEach(async () => {
  await conn?.close();
  await broker?.close();
});

describe('large link credit', () => {
  it(
    'receivers with credit 2^31 - 1, 2^31 and 2^32 - 1 all get messages (serial arithmetic of RFC 1982 does not apply to credit)',
    { timeout: 10_000 },
    async () => {
      broker = await startBroker({ port: 0 });
      conn = await connect({ url: broker.url, reconnect: false });
      const sender = await conn.createSender('q');
      for (const credit of [2 ** 31 - 1, 2 ** 31, 0xffffffff]) {
        await sender.send({ body: credit });
        const receiver = await conn.createReceiver({ source: 'q', credit });
        const delivery = await receiver.receive({ timeout: 2000 });
        expect(delivery.message.body).toBe(credit);
        delivery.accept();
        await receiver.close();
      }
    },
  );
});
