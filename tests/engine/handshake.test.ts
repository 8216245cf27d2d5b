import { describe, expect, it } from 'vitest';
import { ByteWriter } from '../../src/codec/byte-writer.js';
import { AMQP_FRAME_TYPE, ProtocolId, SASL_FRAME_TYPE, protocolHeader, writeFrame } from '../../src/codec/frames.js';
import { compositeSpecs } from '../../src/codec/spec-tables.js';
import { openPair, pump, recordEngine } from '../support/engine-pair.js';

describe('engine: connection, session and link handshake in memory', () => {
  it('a client and a server exchange SASL ANONYMOUS, open, begin and attach', () => {
    const { c, s } = openPair();
    expect(c.events.map((e) => e.type)).toEqual([
      'protocolHeader',
      'saslOutcome',
      'protocolHeader',
      'connectionRemoteOpen',
    ]);
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

describe('a client that pipelines its whole handshake', () => {
  it('sasl-init, the AMQP header and open in one write: the server decides the login first, then reads the rest (spec 5.3.2)', () => {
    const server = recordEngine({ role: 'server', containerId: 'server', saslMechanisms: ['ANONYMOUS'] });
    let decide: (() => void) | undefined;
    const onEvent = server.engine.onEvent!;
    server.engine.onEvent = (e) => {
      onEvent(e);
      if (e.type === 'saslInit') decide = () => server.engine.completeSasl(0); // decided later, as an async check would
    };
    const w = new ByteWriter(1024);
    w.bytes(protocolHeader(ProtocolId.Sasl));
    writeFrame(w, SASL_FRAME_TYPE, 0, compositeSpecs.saslInit, { mechanism: 'ANONYMOUS' });
    w.bytes(protocolHeader(ProtocolId.Amqp));
    writeFrame(w, AMQP_FRAME_TYPE, 0, compositeSpecs.open, { containerId: 'eager-client' });
    server.engine.ingest(w.toBuffer());
    expect(server.events.map((e) => e.type)).toContain('saslInit');
    expect(server.events.some((e) => e.type === 'connectionRemoteOpen')).toBe(false); // waits for the outcome
    expect(server.engine.finished).toBe(false);
    decide!();
    expect(server.events.some((e) => e.type === 'connectionRemoteOpen')).toBe(true);
    expect(server.engine.remoteOpen?.containerId).toBe('eager-client');
    expect(server.events.some((e) => e.type === 'protocolError')).toBe(false);
  });
});
