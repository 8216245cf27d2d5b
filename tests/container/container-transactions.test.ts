/**
 * The Container's transactions, in Qpid Proton's shape (declare_transaction, on_transaction_declared,
 * transaction.send / accept, commit / abort, on_transaction_committed / aborted), against the
 * embedded broker's coordinator.
 */
import { describe, expect, it } from 'vitest';
import {
  Container,
  startBroker,
  type ContainerSender,
  type ContainerTransaction,
  type MessagingHandler,
} from '../../src/index.js';

describe('Container transactions', () => {
  it(
    "tx_send in Proton's shape: batches sent in transactions, committed one by one, all arrive; an aborted batch does not",
    { timeout: 15_000 },
    async () => {
      const broker = await startBroker({ port: 0 });
      const events: string[] = [];
      let sender: ContainerSender | undefined;
      let batch = 0;
      const handler: MessagingHandler = {
        onStart(e) {
          const c = e.container.connect(broker.url);
          sender = e.container.createSender(c, 'tx-examples');
          e.container.declareTransaction(c);
        },
        onTransactionDeclared(e) {
          events.push('declared');
          const tx: ContainerTransaction = e.transaction;
          const send = (): void => {
            for (let i = 0; i < 3; i++) tx.send(sender!, { body: `batch ${batch} message ${i}` });
            if (batch === 1)
              tx.abort(); // the second batch is rolled back
            else tx.commit();
          };
          if (sender!.credit > 0) send();
          else e.container.schedule(50, () => send());
        },
        onTransactionCommitted(e) {
          events.push('committed');
          batch++;
          if (batch < 3) e.container.declareTransaction(e.connection);
          else e.connection.close();
        },
        onTransactionAborted(e) {
          events.push('aborted');
          batch++;
          e.container.declareTransaction(e.connection);
        },
      };
      await new Container(handler).run();
      expect(events).toEqual(['declared', 'committed', 'declared', 'aborted', 'declared', 'committed']);
      expect(broker.queue('tx-examples')?.depth).toBe(6); // batches 0 and 2
      await broker.close();
    },
  );

  it(
    "accepts in a transaction (tx_recv's shape): committed, the messages are gone from the queue",
    { timeout: 15_000 },
    async () => {
      const broker = await startBroker({ port: 0 });
      const seed = new Container({
        onStart(e) {
          const c = e.container.connect(broker.url);
          e.container.createSender(c, 'tx-recv');
        },
        onSendable(e) {
          for (let i = 0; i < 4; i++) e.sender.send({ body: i });
          e.sender.close();
          e.connection.close();
        },
      });
      await seed.run();
      let tx: ContainerTransaction | undefined;
      const got: unknown[] = [];
      await new Container({
        autoAccept: false,
        onStart(e) {
          e.container.declareTransaction(e.container.connect(broker.url));
        },
        onTransactionDeclared(e) {
          tx = e.transaction;
          e.container.createReceiver(e.connection, 'tx-recv'); // messages come once there is a transaction
        },
        onMessage(e) {
          got.push(e.message.body);
          tx!.accept(e.delivery);
          if (got.length === 4) tx!.commit();
        },
        onTransactionCommitted(e) {
          e.connection.close();
        },
      }).run();
      expect(got).toEqual([0, 1, 2, 3]);
      await expect.poll(() => broker.queue('tx-recv')).toMatchObject({ depth: 0, inFlight: 0 });
      await broker.close();
    },
  );
});

describe('Container sender after close()', () => {
  it('says it is closed (not "not attached yet"), naming the sender and its address', { timeout: 10_000 }, async () => {
    const broker = await startBroker({ port: 0 });
    let error: unknown;
    await new Container({
      onStart(e) {
        const c = e.container.connect(broker.url);
        const sender = e.container.createSender(c, 'closing');
        sender.close(); // before it is even attached
        try {
          sender.send({ body: 'x' });
        } catch (err) {
          error = err;
        }
        c.close();
      },
    }).run();
    expect((error as Error).message).toMatch(/cannot send on sender .* to 'closing': it is closed/);
    await broker.close();
  });
});

describe('Container receiver closed in onMessage', () => {
  it(
    'the message is auto-accepted before the close goes out (as in Proton): nothing goes back to the queue',
    { timeout: 10_000 },
    async () => {
      const broker = await startBroker({ port: 0 });
      await new Container({
        onStart(e) {
          const c = e.container.connect(broker.url);
          e.container.createSender(c, 'close-in-onmessage');
          e.container.createReceiver(c, 'close-in-onmessage');
        },
        onSendable(e) {
          e.sender.send({ body: 'only' });
          e.sender.close();
        },
        onMessage(e) {
          e.receiver.close();
          e.connection.close();
        },
      }).run();
      await expect.poll(() => broker.queue('close-in-onmessage')).toMatchObject({ depth: 0, inFlight: 0 });
      await broker.close();
    },
  );
});
