/**
 * Failures found by the engine (in a socket callback) reach the application with the stack of
 * its own call: the line that called connect(), createSender() or (with callerStacks) send().
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  DeliveryRejectedError,
  LinkClosedError,
  connect,
  listen,
  type Connection,
  type Listener,
} from '../../src/index.js';

let listener: Listener | undefined;
let client: Connection | undefined;
afterEach(async () => {
  await client?.close();
  await listener?.close();
  client = undefined;
  listener = undefined;
});

/** A listener that refuses every link and rejects every message. */
async function refusingPeer(): Promise<Listener> {
  const l = await listen();
  void (async () => {
    for await (const link of l) {
      if (link.address === 'refused') link.refuse({ condition: 'amqp:not-found', description: 'no such node' });
      else if (link.role === 'receiver')
        for await (const d of link.acceptAsReceiver())
          d.reject({ condition: 'amqp:precondition-failed', description: 'no' });
      else link.acceptAsSender();
    }
  })();
  return l;
}

describe("errors carry the application's call site", () => {
  it('createSender refused by the peer: the stack names the calling function, and the error keeps its class and fields', async () => {
    listener = await refusingPeer();
    client = await connect(listener.url);
    async function openTheOrdersSender(): Promise<unknown> {
      try {
        return await client!.createSender('refused');
      } catch (e) {
        return e;
      }
    }
    const err = (await openTheOrdersSender()) as LinkClosedError;
    expect(err).toBeInstanceOf(LinkClosedError);
    expect(err.condition).toBe('amqp:not-found');
    expect(err.message).toMatch(/the sender to 'refused'/);
    expect(err.stack).toMatch(/openTheOrdersSender/);
  });

  it('connect() to a port where nothing listens: the stack names the caller', async () => {
    const l = await listen();
    const port = l.port;
    await l.close();
    async function connectToTheBroker(): Promise<unknown> {
      try {
        return await connect({ url: `amqp://127.0.0.1:${port}`, reconnect: false });
      } catch (e) {
        return e;
      }
    }
    const err = (await connectToTheBroker()) as Error;
    expect(err.message).toMatch(/connection refused/);
    expect(err.stack).toMatch(/connectToTheBroker/);
  });

  it('send() rejected by the peer: with callerStacks the stack names the caller; without, the message still names the sender', async () => {
    listener = await refusingPeer();
    client = await connect({ url: listener.url, callerStacks: true });
    const sender = await client.createSender('orders');
    async function placeTheOrder(): Promise<unknown> {
      try {
        return await sender.send({ body: 'x' });
      } catch (e) {
        return e;
      }
    }
    const err = (await placeTheOrder()) as DeliveryRejectedError;
    expect(err).toBeInstanceOf(DeliveryRejectedError);
    expect(err.condition).toBe('amqp:precondition-failed');
    expect(err.message).toMatch(/on the sender to 'orders'/);
    expect(err.stack).toMatch(/placeTheOrder/);
    await expect(connect({ url: listener.url, callerStacks: 'yes' as unknown as boolean })).rejects.toThrow(
      /callerStacks must be true or false/,
    );
  });
});
