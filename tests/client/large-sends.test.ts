/**
 * Large binary bodies are sent by reference: sends waiting for credit hold the caller's buffer,
 * not a copy each, and what arrives is exactly what was sent.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connect, listen, type Connection, type Delivery, type Listener, type Receiver } from '../../src/index.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const MIB = 1024 * 1024;

describe('large sends', () => {
  it(
    '200 sends of one shared 1 MiB buffer waiting for credit hold no copy of it; all arrive intact, in order, with their other sections',
    { timeout: 30_000 },
    async () => {
      const listener: Listener = await listen({ port: 0 });
      cleanups.push(() => listener.close());
      const receivers: Receiver[] = [];
      void (async () => {
        for await (const link of listener)
          if (link.role === 'receiver') receivers.push(link.acceptAsReceiver({ credit: 0 }));
      })();
      const conn: Connection = await connect({ url: listener.url, reconnect: false });
      cleanups.push(() => conn.close());
      const sender = await conn.createSender('big');
      while (receivers.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      const receiver = receivers[0]!;

      const shared = Buffer.alloc(MIB);
      for (let i = 0; i < shared.length; i += 4096) shared.writeUInt32BE(i, i);
      global.gc?.();
      const before = process.memoryUsage().arrayBuffers;
      const sends = Array.from({ length: 200 }, (_, i) =>
        sender.send({ subject: `m${i}`, applicationProperties: { i }, body: shared, footer: { 'x-n': i } }),
      );
      await new Promise((resolve) => setTimeout(resolve, 50));
      // Copied, they would hold 200 MiB; by reference, about nothing.
      expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(20 * MIB);

      receiver.addCredit(200);
      const got: Delivery[] = [];
      for await (const delivery of receiver) {
        got.push(delivery);
        delivery.accept();
        if (got.length === 200) break;
      }
      const outcomes = await Promise.all(sends);
      expect(outcomes.every((o) => o?.kind === 'accepted')).toBe(true);
      got.forEach((d, i) => {
        expect(d.message.subject).toBe(`m${i}`);
        expect(d.message.applicationProperties).toEqual({ i });
        expect(d.message.footer).toEqual({ 'x-n': i });
        expect(Buffer.compare(d.message.body as Buffer, shared)).toBe(0);
      });
    },
  );
});
