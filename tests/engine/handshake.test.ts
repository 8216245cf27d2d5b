import { describe, expect, it } from 'vitest';
import { openPair, pump } from '../support/engine-pair.js';

describe('engine: connection, session and link handshake in memory', () => {
  it('a client and a server exchange SASL ANONYMOUS, open, begin and attach', () => {
    const { c, s } = openPair();
    expect(c.events.map((e) => e.type)).toEqual(['protocolHeader', 'saslOutcome', 'protocolHeader', 'connectionRemoteOpen']);
    expect(s.engine.saslMechanism).toBe('ANONYMOUS');
    expect(c.engine.remoteOpen?.containerId).toBe('server');
    const session = c.engine.createSession();
    session.open();
    const link = session.createLink({ name: 'l1', role: 'sender', target: { kind: 'target', address: 'q' } });
    link.open();
    pump(c.engine, s.engine);
    expect(session.remoteState).toBe('open');
    expect(link.remoteState).toBe('open');
    const serverLink = s.engine.sessions[0]!.links[0]!;
    expect(serverLink.role).toBe('receiver');
    serverLink.addCredit(10);
    pump(c.engine, s.engine);
    expect(link.credit).toBe(10);
    const d = link.send(Buffer.from('hello'));
    pump(c.engine, s.engine);
    const got = s.events.find((e) => e.type === 'delivery');
    expect(got && got.type === 'delivery' && Buffer.from(got.delivery.payload!).toString()).toBe('hello');
    if (got?.type === 'delivery') got.delivery.update({ kind: 'accepted' }, true);
    pump(c.engine, s.engine);
    expect(d.remoteState?.kind).toBe('accepted');
    expect(d.remoteSettled).toBe(true);
  });

  it('handshakes the same when every chunk is cut to one byte', () => {
    const { c } = openPair({}, {}, 1);
    expect(c.engine.remoteState).toBe('open');
  });

  it('splits a message larger than max-frame-size into frames and reassembles it', () => {
    const { c, s } = openPair({}, { maxFrameSize: 512 });
    const session = c.engine.createSession();
    session.open();
    const link = session.createLink({ name: 'big', role: 'sender', target: { kind: 'target', address: 'q' } });
    link.open();
    pump(c.engine, s.engine);
    s.engine.sessions[0]!.links[0]!.addCredit(1);
    pump(c.engine, s.engine);
    const payload = Buffer.alloc(100_000, 7);
    link.send(payload);
    pump(c.engine, s.engine, 333);
    const got = s.events.find((e) => e.type === 'delivery');
    expect(got?.type === 'delivery' && Buffer.compare(Buffer.from(got.delivery.payload!), payload)).toBe(0);
  });
});
