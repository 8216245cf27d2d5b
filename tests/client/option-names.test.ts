/**
 * Option names say their unit and match the names used elsewhere: a terminus's expiry timeout is
 * `expiryTimeoutSeconds` (AMQP's field is in seconds; every other timeout of Quark is in
 * milliseconds), and modify's annotations are `messageAnnotations`, as on messages. The old names
 * are refused with a message giving the new one, never ignored.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  DeliveryModifiedError,
  InvalidArgumentError,
  Release,
  connect,
  listen,
  type Connection,
  type Listener,
  type TerminusOptions,
} from '../../src/index.js';

let listener: Listener | undefined;
let client: Connection | undefined;
afterEach(async () => {
  await client?.close();
  await listener?.close();
  client = undefined;
  listener = undefined;
});

describe('TerminusOptions.expiryTimeoutSeconds', () => {
  it('goes out as the terminus timeout field, in seconds, unchanged', async () => {
    listener = await listen();
    client = await connect(listener.url);
    const seen = (async () => {
      for await (const link of listener!) {
        link.acceptAsSender();
        return link.source;
      }
      return undefined;
    })();
    await client.createReceiver({
      source: { address: 'q', expiryPolicy: 'connection-close', expiryTimeoutSeconds: 30 },
    });
    expect(await seen).toMatchObject({ address: 'q', expiryPolicy: 'connection-close', timeout: 30 });
  });

  it('the old name timeout, a value that is not whole seconds, and an option a target does not have are refused', async () => {
    listener = await listen();
    client = await connect(listener.url);
    const old = await client
      .createReceiver({ source: { address: 'q', timeout: 30 } as TerminusOptions })
      .catch((e: unknown) => e);
    expect(old).toBeInstanceOf(InvalidArgumentError);
    expect((old as Error).message).toBe(
      "source.timeout is now source.expiryTimeoutSeconds (in seconds, as AMQP's field; every other timeout of Quark is in milliseconds)",
    );
    await expect(client.createSender({ target: { address: 'q', expiryTimeoutSeconds: 1.5 } })).rejects.toThrow(
      /target\.expiryTimeoutSeconds must be a whole number of seconds from 0 to 4294967295, got 1\.5/,
    );
    await expect(client.createSender({ target: { address: 'q', filter: {} } })).rejects.toThrow(
      /target option "filter" is not supported \(filter is a source option\)/,
    );
  });
});

describe('ModifyOptions.messageAnnotations', () => {
  it('reaches the sender in the modified outcome', async () => {
    listener = await listen();
    client = await connect(listener.url);
    const modified = (async () => {
      for await (const link of listener!) {
        const receiver = link.acceptAsReceiver();
        const delivery = await receiver.receive({ timeout: 5000 });
        delivery.modify({ deliveryFailed: true, messageAnnotations: { 'x-opt-reason': 'busy' } });
        return;
      }
    })();
    const sender = await client.createSender('q');
    const error = await sender.send({ body: 1 }).catch((e: unknown) => e);
    await modified;
    expect(error).toBeInstanceOf(DeliveryModifiedError);
    expect((error as DeliveryModifiedError).outcome).toEqual({
      kind: 'modified',
      deliveryFailed: true,
      undeliverableHere: undefined,
      messageAnnotations: { 'x-opt-reason': 'busy' },
    });
  });

  it("the old name annotations is refused by modify() and by the Container's Release, saying the new one", () => {
    expect(() => new Release({ annotations: {} } as never)).toThrow(
      new InvalidArgumentError('Release: the option annotations is now messageAnnotations, as on messages'),
    );
    expect(
      () =>
        new Release({ deliveryFailed: true, undeliverableHere: true, messageAnnotations: { k: 1 }, delivered: true }),
    ).not.toThrow();
  });
});
