/**
 * Opening and closing links costs O(1) and leaves nothing behind: after thousands of senders
 * and receivers opened and closed on one connection, neither the client's session nor either
 * side's engine remembers any of them.
 */
import { describe, expect, it } from 'vitest';
import { connect, listen, type Session } from '../../src/index.js';

describe('link churn', () => {
  it('3,000 senders and 3,000 receivers opened and closed on one connection leave no link behind in the session or the engine, on either side', async () => {
    const listener = await listen({ port: 0 });
    listener.links$.subscribe((link) => {
      if (link.role === 'receiver') link.acceptAsReceiver();
      else link.acceptAsSender();
    });
    const conn = await connect({ url: listener.url, reconnect: false });
    try {
      const session = await conn.defaultSession();
      for (let i = 0; i < 3000; i++) {
        const s = await conn.createSender('churn');
        await s.close();
        const r = await conn.createReceiver('churn');
        await r.close();
      }
      expect(session.links).toEqual([]);
      expect(session.engineSession.links).toEqual([]);
      const serverSide = listener.connections;
      expect(serverSide.length).toBe(1);
      expect(serverSide.flatMap((c) => c.engine.sessions.flatMap((s) => s.links))).toEqual([]);
      expect(serverSide.flatMap((c) => c.engine.sessions.flatMap((s) => (s.context as Session).links))).toEqual([]);
    } finally {
      await conn.close();
      await listener.close();
    }
  }, 60_000);
});
