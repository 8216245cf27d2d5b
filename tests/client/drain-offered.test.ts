/** A sender hears a receiver's drain request, and tells the receiver what it has (offered). */
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidArgumentError, connect, listen, type Connection, type Listener, type Sender } from '../../src/index.js';

let listener: Listener | undefined;
let client: Connection | undefined;
afterEach(async () => {
  await client?.close();
  await listener?.close();
  client = undefined;
  listener = undefined;
});

describe('drain and offered', () => {
  it(
    "the sending side is told when the receiver asks it to drain, and the receiver sees the sender's offered backlog",
    { timeout: 10_000 },
    async () => {
      listener = await listen();
      const accepted = new Promise<Sender>((resolve) => {
        void (async () => {
          for await (const link of listener!) resolve(link.acceptAsSender());
        })();
      });
      client = await connect(listener.url);
      const receiver = await client.createReceiver({ source: 'q', credit: 0 });
      const sender = await accepted;
      const drainRequests: number[] = [];
      sender.session.connection.events$.subscribe((e) => {
        if (e.type === 'drainRequested') drainRequests.push(e.credit);
      });
      sender.offered(7);
      await expect.poll(() => receiver.available, { timeout: 2000 }).toBe(7);
      receiver.addCredit(3);
      await expect.poll(() => sender.credit, { timeout: 2000 }).toBe(3);
      await receiver.drain({ timeout: 2000 }); // nothing is sent: the sender's engine gives the credit back
      expect(drainRequests).toEqual([3]);
      expect(receiver.credit).toBe(0);
      expect(sender.drainRequested).toBe(false);
      expect(() => sender.offered(-1)).toThrow(InvalidArgumentError);
    },
  );
});
