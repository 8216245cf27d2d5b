import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import {
  connect,
  listen,
  LinkClosedError,
  type AmqpError,
  type Connection,
  type Listener,
  type QuarkEvent,
  type Receiver,
} from '../../src/index.js';

let listener: Listener | undefined;
let client: Connection | undefined;
afterEach(async () => {
  await client?.close();
  await listener?.close();
  client = undefined;
  listener = undefined;
});

/** A listener whose incoming links are accepted as receivers with `credit`, handed to `onReceiver` (by default: one that accepts every message). */
async function listenAsReceivers(
  credit: number,
  onReceiver: (receiver: Receiver) => void = acceptAll,
): Promise<Listener> {
  const l = await listen();
  void (async () => {
    for await (const link of l) onReceiver(link.acceptAsReceiver({ credit }));
  })();
  return l;
}

function acceptAll(receiver: Receiver): void {
  void (async () => {
    for await (const delivery of receiver) delivery.accept();
  })();
}

describe('the event hooks of client objects (the plain-callback side of events$)', () => {
  it('connection.onEvent hears what events$ emits, without rxjs, and its end once the connection is closed', async () => {
    listener = await listenAsReceivers(10);
    client = await connect(listener.url);
    const heard: QuarkEvent['type'][] = [];
    const viewed: QuarkEvent['type'][] = [];
    let ended = 0;
    client.onEvent(
      (e) => heard.push(e.type),
      () => ended++,
    );
    const subscription = client.events$.subscribe((e) => viewed.push(e.type));
    const sender = await client.createSender('q');
    await sender.send({ body: 'x' });
    await client.close();
    client = undefined;
    subscription.unsubscribe();
    expect(heard).toContain('linkOpened');
    expect(heard).toContain('settled');
    expect(heard.at(-1)).toBe('closed');
    expect(viewed).toEqual(heard);
    expect(ended).toBe(1);
  });

  it('the function onEvent returns stops the listener', async () => {
    listener = await listenAsReceivers(10);
    client = await connect(listener.url);
    const heard: string[] = [];
    const stop = client.onEvent((e) => heard.push(e.type));
    await client.createSender('a');
    stop();
    await client.createSender('b');
    expect(heard.filter((t) => t === 'linkOpened')).toHaveLength(1);
  });

  it('link.onClosed is called once with the peer error when the peer closes the link, and at once for a link already closed', async () => {
    listener = await listenAsReceivers(10, (receiver) => {
      void receiver.receive().then((delivery) => {
        delivery.accept();
        return receiver.close({ error: { condition: 'amqp:not-allowed', description: 'no more' } });
      });
    });
    client = await connect(listener.url);
    const sender = await client.createSender('q');
    const errors: (AmqpError | undefined)[] = [];
    sender.onClosed((e) => errors.push(e));
    const closed = new Promise<void>((resolve) => sender.onClosed(() => resolve()));
    await sender.send({ body: 'x' });
    await closed;
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(LinkClosedError);
    expect(errors[0]?.condition).toBe('amqp:not-allowed');
    const late: (AmqpError | undefined)[] = [];
    sender.onClosed((e) => late.push(e));
    expect(late).toEqual([errors[0]]);
  });

  it('link.onClosed gets undefined when the link is closed cleanly', async () => {
    listener = await listenAsReceivers(10);
    client = await connect(listener.url);
    const sender = await client.createSender('q');
    const errors: (AmqpError | undefined)[] = [];
    sender.onClosed((e) => errors.push(e));
    await sender.close();
    expect(errors).toEqual([undefined]);
  });

  it('sender.onSendable is called when the peer grants credit, and no more once stopped', async () => {
    let peerReceiver: Receiver | undefined;
    listener = await listenAsReceivers(0, (receiver) => {
      peerReceiver = receiver;
      acceptAll(receiver);
    });
    client = await connect(listener.url);
    const sender = await client.createSender('q');
    let calls = 0;
    const credited = new Promise<number>((resolve) => {
      const stop = sender.onSendable(() => {
        calls++;
        stop();
        resolve(sender.credit);
      });
    });
    expect(calls).toBe(0);
    peerReceiver!.addCredit(3);
    expect(await credited).toBe(3);
    peerReceiver!.addCredit(2);
    await sender.send({ body: 'x' });
    expect(calls).toBe(1);
  });

  it('a listener that throws does not break the connection: its error is thrown again on its own, as an uncaught exception', () => {
    // In a child process (the built package), where an uncaught exception can be watched.
    const code = `
      const q = require('quark-amqp');
      const uncaught = [];
      process.on('uncaughtException', (e) => uncaught.push(e.message));
      (async () => {
        const listener = await q.listen({ port: 0 });
        (async () => { for await (const link of listener) { const r = link.acceptAsReceiver(); for await (const d of r) d.accept(); } })();
        const connection = await q.connect(listener.url);
        const heard = [];
        connection.onEvent(() => { throw new Error('listener bug'); });
        connection.onEvent((e) => heard.push(e.type));
        const sender = await connection.createSender('q');
        const outcome = await sender.send({ body: 1 });
        await connection.close();
        await listener.close();
        await new Promise((resolve) => setTimeout(resolve, 10));
        console.log(JSON.stringify({ outcome: outcome.kind, heard: heard.includes('settled'), uncaught: [...new Set(uncaught)] }));
      })();`;
    const out = execFileSync(process.execPath, ['--input-type=commonjs', '-e', code], {
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(JSON.parse(out)).toEqual({ outcome: 'accepted', heard: true, uncaught: ['listener bug'] });
  });
});
