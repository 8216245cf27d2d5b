/** Two engines wired back to back in memory, with every event recorded, for engine tests. */
import { ProtocolEngine, type EngineOptions } from '../../src/engine/engine.js';
import type { EngineEvent } from '../../src/engine/events.js';
import type { EngineLink } from '../../src/engine/link.js';
import type { EngineSession } from '../../src/engine/session.js';

export interface RecordedEngine {
  engine: ProtocolEngine;
  events: EngineEvent[];
}

export function recordEngine(options: EngineOptions): RecordedEngine {
  const engine = new ProtocolEngine(options);
  const events: EngineEvent[] = [];
  engine.onEvent = (e) => events.push(e);
  return { engine, events };
}

/**
 * Moves bytes between `a` and `b` until neither has anything to send. `split` cuts every chunk
 * into pieces of at most that many bytes, to exercise frame reassembly.
 */
export function pump(a: ProtocolEngine, b: ProtocolEngine, split = Infinity): number {
  let moved = 0;
  for (let round = 0; round < 10_000; round++) {
    const fromA = a.takeOutput();
    const fromB = b.takeOutput();
    if (!fromA && !fromB) return moved;
    if (fromA) moved += feed(b, fromA, split);
    if (fromB) moved += feed(a, fromB, split);
  }
  throw new Error('engines kept talking for 10,000 rounds');
}

function feed(engine: ProtocolEngine, bytes: Buffer, split: number): number {
  if (split === Infinity) engine.ingest(bytes);
  else for (let i = 0; i < bytes.length; i += split) engine.ingest(Buffer.from(bytes.subarray(i, i + split)));
  return bytes.length;
}

/** A connected client/server pair: open exchanged (server answers automatically), SASL ANONYMOUS. */
export function openPair(
  client: Partial<EngineOptions> = {},
  server: Partial<EngineOptions> = {},
  split = Infinity,
): { c: RecordedEngine; s: RecordedEngine } {
  const c = recordEngine({ role: 'client', containerId: 'client', ...client });
  const s = recordEngine({ role: 'server', containerId: 'server', ...server });
  s.engine.onEvent = (e) => {
    s.events.push(e);
    if (e.type === 'saslInit') s.engine.completeSasl(0);
    if (e.type === 'connectionRemoteOpen') s.engine.open();
    if (e.type === 'sessionRemoteOpen' && e.session.localState === 'unopened') e.session.open();
    if (e.type === 'linkRemoteOpen' && e.link.localState === 'unopened')
      e.link.open({ source: e.link.remote?.source, target: e.link.remote?.target });
  };
  c.engine.open();
  pump(c.engine, s.engine, split);
  return { c, s };
}

/** An open pair with one sending link attached from the client, given `credit` by the server. */
export function senderPair(
  credit: number,
  client: Partial<EngineOptions> = {},
  server: Partial<EngineOptions> = {},
): { c: RecordedEngine; s: RecordedEngine; session: EngineSession; link: EngineLink } {
  const { c, s } = openPair(client, server);
  const session = c.engine.createSession();
  session.open();
  const link = session.createLink({ name: 'sender', role: 'sender', target: { kind: 'target', address: 'q' } });
  link.open();
  pump(c.engine, s.engine);
  s.engine.sessions[0]!.links[0]!.addCredit(credit);
  pump(c.engine, s.engine);
  return { c, s, session, link };
}
