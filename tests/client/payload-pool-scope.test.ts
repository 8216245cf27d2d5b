/**
 * The pool of large outgoing payloads belongs to one connection (4296095): its buffers are reused
 * by that connection's sends only, and go with it when it ends. A pool shared by the process gave
 * one connection's buffers to another, and kept them (up to 64 MB) after every connection using
 * them had ended, even while the application held none of them.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import type { BufferPool } from '../../src/collections/buffer-pool.js';
import { connect, listen, type Connection, type Listener } from '../../src/index.js';

let listener: Listener | undefined;
const connections: Connection[] = [];
afterEach(async () => {
  for (const c of connections.splice(0)) await c.close();
  await listener?.close();
  listener = undefined;
});

const BODY = 256 * 1024; // well above the 64 KiB from which a message is encoded into a pooled buffer
/** A large body that is encoded into the pool: a string (one Uint8Array body is sent by reference, not encoded). */
const largeBody = (fill: number): string => String.fromCharCode(97 + fill).repeat(BODY);

/** A listener that accepts every link as a receiver and accepts what arrives. */
async function sink(): Promise<Listener> {
  const l = await listen({ host: '127.0.0.1', port: 0 });
  void (async () => {
    // Ends when the listener closes; accepting a link cannot throw here (each is new).
    for await (const link of l) {
      const receiver = link.acceptAsReceiver({ credit: 100 });
      void (async () => {
        for await (const d of receiver) d.accept();
      })().catch(() => undefined); // the link ends with its connection
    }
  })();
  return l;
}

/** A connection that has sent `count` large messages, each written and settled. */
async function sentLarge(url: string, count: number, fill: number): Promise<Connection> {
  const connection = await connect({ url, reconnect: false });
  connections.push(connection);
  const sender = await connection.createSender('large');
  for (let i = 0; i < count; i++) await sender.send({ body: largeBody(fill) });
  return connection;
}

/** The buffers waiting in a pool (taken out to look at them, and given back). */
function buffersIn(pool: BufferPool): ArrayBuffer[] {
  const taken: Buffer[] = [];
  while (pool.size > 0) taken.push(pool.take(BODY + 4096)); // the size a 256 KiB body is encoded into
  for (const b of taken) pool.give(b);
  return taken.map((b) => b.buffer as ArrayBuffer);
}

describe('the large-payload pool', () => {
  it("reuses a connection's buffers for that connection's sends only: another connection never gets them", async () => {
    listener = await sink();
    const a = await sentLarge(listener.url, 3, 1);
    const ofA = buffersIn(a.payloadPool);
    expect(ofA.length).toBeGreaterThan(0); // written, so given back for A's next send
    const b = await sentLarge(listener.url, 3, 2);
    const ofB = buffersIn(b.payloadPool);
    expect(ofB.length).toBeGreaterThan(0);
    expect(ofB.filter((buffer) => ofA.includes(buffer))).toEqual([]);
    expect(buffersIn(a.payloadPool)).toEqual(ofA); // A's are all still A's
  });

  it('lets the buffers go when the connection ends, even while the application keeps the connection object', async () => {
    listener = await sink();
    const a = await sentLarge(listener.url, 3, 1);
    const refs = buffersIn(a.payloadPool).map((buffer) => new WeakRef(buffer));
    expect(refs.length).toBeGreaterThan(0);
    await a.close();
    expect(a.payloadPool.size).toBe(0);
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    for (let i = 0; i < 10 && refs.some((r) => r.deref() !== undefined); i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      gc();
    }
    expect(refs.filter((r) => r.deref() !== undefined)).toHaveLength(0);
    expect(a.isOpen).toBe(false); // still held here, on purpose
  });
});
