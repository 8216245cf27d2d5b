/**
 * Durable topic subscriptions in the embedded broker: named by the client's container id and the
 * link name, they keep what is published while the subscriber is detached or its connection is
 * down, and end when the subscriber closes the link.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connect, startBroker, type Broker, type Connection, type ReceiverOptions } from '../../src/index.js';

let broker: Broker | undefined;
const connections: Connection[] = [];
afterEach(async () => {
  for (const c of connections.splice(0)) await c.close().catch(() => undefined);
  await broker?.close();
  broker = undefined;
});

async function client(containerId: string): Promise<Connection> {
  const c = await connect({ url: broker!.url, containerId, reconnect: false });
  connections.push(c);
  return c;
}

const DURABLE: ReceiverOptions = {
  name: 'news-sub',
  source: { address: 'topic://news', durable: 'unsettled-state', expiryPolicy: 'never' },
};

async function publish(c: Connection, bodies: string[]): Promise<void> {
  const sender = await c.createSender('topic://news');
  for (const body of bodies) await sender.send({ body });
  await sender.close();
}

async function take(c: Connection, n: number): Promise<string[]> {
  const receiver = await c.createReceiver({ ...DURABLE });
  const got: string[] = [];
  for (let i = 0; i < n; i++) {
    const d = await receiver.receive({ timeout: 3000 });
    got.push(d.message.body as string);
    d.accept();
  }
  await receiver.detach();
  return got;
}

describe('durable topic subscriptions', () => {
  it(
    'keep what is published while the subscriber is detached, and give it to the same container id and link name',
    { timeout: 20_000 },
    async () => {
      broker = await startBroker({ port: 0 });
      const sub = await client('subscriber-1');
      const pub = await client('publisher');
      expect(await take(sub, 0)).toEqual([]); // subscribes, then detaches
      await publish(pub, ['a', 'b']);
      expect(await take(sub, 2)).toEqual(['a', 'b']);
      await publish(pub, ['c']);
      // Another container id with the same link name is another subscription: it sees nothing old.
      const other = await client('subscriber-2');
      const otherReceiver = await other.createReceiver({ ...DURABLE });
      await expect(otherReceiver.receive({ timeout: 200 })).rejects.toThrow(/timed out|did not complete/);
      await otherReceiver.close();
      expect(await take(sub, 1)).toEqual(['c']);
    },
  );

  it(
    'survive the subscriber connection going away, and end when the subscriber closes the link',
    { timeout: 20_000 },
    async () => {
      broker = await startBroker({ port: 0 });
      const pub = await client('publisher');
      const first = await client('subscriber-3');
      expect(await take(first, 0)).toEqual([]);
      await first.close();
      await publish(pub, ['while away']);
      const again = await client('subscriber-3');
      const receiver = await again.createReceiver({ ...DURABLE });
      const d = await receiver.receive({ timeout: 3000 });
      expect(d.message.body).toBe('while away');
      d.accept();
      await receiver.close(); // ends the subscription
      await publish(pub, ['after close']);
      const later = await again.createReceiver({ ...DURABLE });
      await expect(later.receive({ timeout: 300 })).rejects.toThrow(/timed out|did not complete/);
      await later.close();
      expect(broker.queues().filter((q) => q.address === 'topic://news')).toEqual([]);
    },
  );

  it('a non-durable topic subscriber sees nothing published while it was away', { timeout: 20_000 }, async () => {
    broker = await startBroker({ port: 0 });
    const pub = await client('publisher');
    const sub = await client('plain');
    const r1 = await sub.createReceiver({ name: 'plain-sub', source: 'topic://news' });
    await r1.detach();
    await publish(pub, ['gone']);
    const r2 = await sub.createReceiver({ name: 'plain-sub', source: 'topic://news' });
    await expect(r2.receive({ timeout: 300 })).rejects.toThrow(/timed out|did not complete/);
  });
});

describe('durable topic subscriptions with a Proton client', () => {
  it(
    "Proton's DurableSubscription keeps what is published while it is detached, and closing it ends it",
    { timeout: 30_000 },
    async () => {
      const { fileURLToPath } = await import('node:url');
      const { startProgram } = await import('../support/programs.js');
      const { PYTHON, requirePythonProton } = await import('../support/proton-peers.js');
      requirePythonProton();
      const script = fileURLToPath(new URL('../interop/proton/durable_sub.py', import.meta.url));
      broker = await startBroker({ port: 0 });
      const url = `127.0.0.1:${broker.port}`;
      const run = async (count: number, end: 'detach' | 'close'): Promise<string[]> => {
        const p = startProgram(
          PYTHON,
          [script, url, 'topic://news', String(count), '--end', end],
          process.cwd(),
          20_000,
        );
        const r = await p.done;
        expect(r.code, r.stderr).toBe(0);
        return r.stdout.trim().split('\n');
      };
      expect(await run(0, 'detach')).toEqual(['detached']); // subscribes, then detaches
      const pub = await client('publisher');
      await publish(pub, ['one', 'two']);
      expect(await run(2, 'detach')).toEqual(['one', 'two', 'detached']);
      await publish(pub, ['three']);
      expect(await run(1, 'close')).toEqual(['three', 'closed']); // ends the subscription
      await publish(pub, ['after close']);
      expect(broker.queues().filter((q) => q.address === 'topic://news')).toEqual([]);
    },
  );
});
