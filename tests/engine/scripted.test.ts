/**
 * The protocol engine against a scripted peer, in memory: what no real peer does on demand.
 * Frames cut at every byte, odd orderings, aborted deliveries, credit and window edge cases,
 * drain, idle timeouts and heartbeats, malformed frames, and how dispositions are coalesced.
 */
import { describe, expect, it } from 'vitest';
import type { DeliveryState } from '../../src/codec/composite-types.js';
import { compositeSpecs } from '../../src/codec/spec-tables.js';
import type { EngineOptions } from '../../src/engine/engine.js';
import type { EngineEvent } from '../../src/engine/events.js';
import type { EngineLink } from '../../src/engine/link.js';
import type { EngineSession } from '../../src/engine/session.js';
import { pump, recordEngine, senderPair, type RecordedEngine } from '../support/engine-pair.js';
import { ScriptedPeer, type FieldMatcher, type SplitOptions } from '../support/scripted-peer.js';

const ACCEPTED: DeliveryState = { kind: 'accepted' };

interface Harness {
  c: RecordedEngine;
  peer: ScriptedPeer;
  session: EngineSession;
}

/** A client engine with SASL ANONYMOUS, open and one session exchanged with a scripted peer. */
function connected(options: Partial<EngineOptions> = {}, open: FieldMatcher = {}, begin: FieldMatcher = {}): Harness {
  const c = recordEngine({ role: 'client', containerId: 'quark', ...options });
  const peer = ScriptedPeer.inMemory(c.engine);
  peer.expectSaslAnonymous();
  peer.expectOpen().respond(open);
  peer.expectBegin().respond(begin);
  c.engine.open();
  const session = c.engine.createSession();
  session.open();
  peer.pump();
  peer.assertScriptComplete();
  return { c, peer, session };
}

function attachSender(h: Harness, name: string, credit?: number): EngineLink {
  h.peer.expectAttach({ name, role: false }).respond();
  if (credit !== undefined) h.peer.remoteFlow({ linkCredit: credit });
  const link = h.session.createLink({ name, role: 'sender', target: { kind: 'target', address: name } });
  link.open();
  h.peer.pump();
  h.peer.assertScriptComplete();
  return link;
}

function attachReceiver(h: Harness, name: string, credit: number): EngineLink {
  h.peer.expectAttach({ name, role: true }).respond();
  h.peer.expectFlow({ linkCredit: credit });
  const link = h.session.createLink({ name, role: 'receiver', source: { kind: 'source', address: name } });
  link.setCredit(credit);
  link.open();
  h.peer.pump();
  h.peer.assertScriptComplete();
  return link;
}

/** Events as comparable strings (the parts a split could change). */
function signature(events: EngineEvent[]): string[] {
  return events.map((e) => {
    switch (e.type) {
      case 'delivery':
        return `delivery ${e.link.name} #${e.delivery.id} ${Buffer.from(e.delivery.tag).toString()} ${Buffer.from(e.delivery.payload ?? []).toString()} settled=${e.delivery.remoteSettled}`;
      case 'deliveryAborted':
        return `aborted ${e.link.name} #${e.delivery.id}`;
      case 'deliveryRemoteUpdate':
        return `update #${e.delivery.id} ${e.delivery.remoteState?.kind} settled=${e.delivery.remoteSettled}`;
      case 'linkFlow':
        return `flow ${e.link.name} credit=${e.link.credit}`;
      case 'linkRemoteClose':
        return `detach ${e.link.name} ${e.error?.condition}`;
      case 'protocolError':
        return `protocolError ${e.error.condition}`;
      case 'linkRemoteOpen':
        return `attach ${e.link.name}`;
      default:
        return e.type;
    }
  });
}

const deliveries = (events: EngineEvent[]): string[] =>
  events.flatMap((e) => (e.type === 'delivery' ? [Buffer.from(e.delivery.payload ?? []).toString()] : []));

/**
 * One conversation exercising most of the frame kinds: handshake, a receiver getting single-frame,
 * multi-frame, aborted and pre-settled deliveries plus a heartbeat, a sender whose sends are
 * settled by one disposition range, then a detach with an error.
 */
function conversation(split: SplitOptions): {
  events: string[];
  received: string[];
  peerBytes: number;
  peer: ScriptedPeer;
} {
  const c = recordEngine({ role: 'client', containerId: 'quark' });
  const peer = ScriptedPeer.inMemory(c.engine);
  peer.splitOutput(split);
  let bytes = 0;
  const write = peer.write.bind(peer);
  peer.write = (b: Buffer) => {
    bytes += b.length;
    write(b);
  };
  peer.expectSaslAnonymous();
  peer.expectOpen().respond({ maxFrameSize: 4096 });
  peer.expectBegin().respond();
  peer.expectAttach({ name: 'in', role: true }).respond();
  peer.expectFlow({ handle: 0, linkCredit: 10 });
  peer.remoteTransfer({ handle: 0, payload: Buffer.from('one') });
  peer.remoteTransfer({ handle: 0, payload: Buffer.from('two-a/'), more: true });
  peer.remoteTransfer({ handle: 0, payload: Buffer.from('two-b'), more: false });
  peer.remoteTransfer({ handle: 0, payload: Buffer.from('lost-a'), more: true });
  peer.remoteTransfer({ handle: 0, aborted: true, settled: true });
  peer.remoteEmptyFrame();
  peer.remoteTransfer({ handle: 0, payload: Buffer.from('three'), settled: true });
  peer.expectAttach({ name: 'out', role: false }).respond();
  peer.remoteFlow({ handle: 1, linkCredit: 2 });
  peer.expectTransfer({ handle: 1, payload: 'x' });
  peer.expectTransfer({ handle: 1, payload: 'y' });
  peer.remoteDisposition({ role: true, first: 0, last: 1, settled: true, state: ACCEPTED });
  peer.remoteDetach({ handle: 0, error: { condition: 'amqp:resource-deleted', description: 'queue deleted' } });
  peer.expectDetach({ handle: 0 });

  let out: EngineLink | undefined;
  c.engine.onEvent = (e) => {
    c.events.push(e);
    if (e.type === 'delivery' && Buffer.from(e.delivery.payload!).toString() === 'three') {
      out = session.createLink({ name: 'out', role: 'sender', target: { kind: 'target', address: 'out' } });
      out.open();
    }
    if (e.type === 'linkFlow' && e.link === out && out.credit === 2) {
      out.send(Buffer.from('x'));
      out.send(Buffer.from('y'));
    }
  };
  c.engine.open();
  const session = c.engine.createSession();
  session.open();
  const inLink = session.createLink({ name: 'in', role: 'receiver', source: { kind: 'source', address: 'in' } });
  inLink.setCredit(10);
  inLink.open();
  peer.pump();
  return { events: signature(c.events), received: peer.received.map((f) => f.kind), peerBytes: bytes, peer };
}

describe('engine against a scripted peer: frame reassembly', () => {
  it('a conversation cut into pieces of every size from 1 byte to its whole length gives the same events', () => {
    const whole = conversation({});
    whole.peer.assertScriptComplete();
    expect(whole.events).toContain('aborted in #2');
    expect(whole.events.filter((e) => e.startsWith('delivery '))).toEqual([
      'delivery in #0 tag-0 one settled=false',
      'delivery in #1 tag-1 two-a/two-b settled=false',
      'delivery in #3 tag-3 three settled=true',
    ]);
    expect(whole.events.filter((e) => e.startsWith('update'))).toEqual([
      'update #0 accepted settled=true',
      'update #1 accepted settled=true',
    ]);
    expect(whole.events.at(-1)).toBe('detach in amqp:resource-deleted');
    expect(whole.peerBytes).toBeGreaterThan(300);
    for (let every = 1; every <= whole.peerBytes; every++) {
      const run = conversation({ every });
      run.peer.assertScriptComplete();
      expect(run.events, `pieces of ${every} bytes`).toEqual(whole.events);
      expect(run.received, `pieces of ${every} bytes`).toEqual(whole.received);
    }
  });

  it('a conversation cut in two at every byte boundary gives the same events', () => {
    const whole = conversation({});
    for (let at = 1; at < whole.peerBytes; at++) {
      const run = conversation({ at: [at] });
      run.peer.assertScriptComplete();
      expect(run.events, `cut at byte ${at}`).toEqual(whole.events);
    }
  });
});

describe('engine against a scripted peer: orderings and deliveries', () => {
  it('credit in the same write as the attach answer is usable as soon as the link opens', () => {
    const h = connected();
    h.peer.expectAttach({ name: 's' }).respond();
    h.peer.remoteFlow({ linkCredit: 3 });
    const seen: string[] = [];
    h.c.engine.onEvent = (e) => {
      if (e.type === 'linkRemoteOpen' || e.type === 'linkFlow') seen.push(`${e.type} credit=${e.link.credit}`);
    };
    const link = h.session.createLink({ name: 's', role: 'sender', target: { kind: 'target', address: 's' } });
    link.open();
    h.peer.pump();
    // Each event is delivered as its frame is read: the attach first, then the credit.
    expect(seen).toEqual(['linkRemoteOpen credit=0', 'linkFlow credit=3']);
    h.peer.expectTransfer({ payload: 'm' });
    link.send(Buffer.from('m'));
    h.peer.pump();
    h.peer.assertScriptComplete();
  });

  it('credit granted before the peer answers the attach is sent after our attach, and transfers may follow the answer at once', () => {
    const h = connected();
    h.peer.expectAttach({ name: 'r', role: true }).respond();
    h.peer.expectFlow({ handle: 0, linkCredit: 5, deliveryCount: 0 });
    h.peer.remoteTransfer({ payload: Buffer.from('early') });
    const link = h.session.createLink({ name: 'r', role: 'receiver', source: { kind: 'source', address: 'r' } });
    link.setCredit(5);
    link.open();
    h.peer.pump();
    h.peer.assertScriptComplete();
    expect(deliveries(h.c.events)).toEqual(['early']);
    expect(link.credit).toBe(4);
  });

  it('a disposition range settles every delivery in it, skipping ids that are not unsettled', () => {
    const h = connected();
    const link = attachSender(h, 's', 10);
    for (let i = 0; i < 5; i++) h.peer.expectTransfer();
    const sent = [0, 1, 2, 3, 4].map((i) => link.send(Buffer.from(`m${i}`), { settled: i === 2 }));
    h.peer.pump();
    h.peer.remoteDisposition({ role: true, first: 0, last: 4, settled: true, state: ACCEPTED });
    h.peer.pump();
    h.peer.assertScriptComplete();
    expect(sent.map((d) => d.remoteState?.kind)).toEqual(['accepted', 'accepted', undefined, 'accepted', 'accepted']);
    expect(h.c.events.filter((e) => e.type === 'deliveryRemoteUpdate')).toHaveLength(4);
    expect(h.session.outgoingUnsettled.size).toBe(0);
  });

  it('deliveries settled out of order get each its own outcome', () => {
    const h = connected();
    const link = attachSender(h, 's', 10);
    for (let i = 0; i < 3; i++) h.peer.expectTransfer();
    const sent = [0, 1, 2].map((i) => link.send(Buffer.from(`m${i}`)));
    h.peer.pump();
    h.peer.remoteDisposition({
      role: true,
      first: 2,
      settled: true,
      state: { kind: 'rejected', error: { condition: 'amqp:precondition-failed' } },
    });
    h.peer.remoteDisposition({ role: true, first: 0, settled: true, state: ACCEPTED });
    h.peer.remoteDisposition({ role: true, first: 1, settled: true, state: { kind: 'released' } });
    h.peer.pump();
    const updates = h.c.events.flatMap((e) =>
      e.type === 'deliveryRemoteUpdate' ? [`${e.delivery.id}:${e.delivery.remoteState?.kind}`] : [],
    );
    expect(updates).toEqual(['2:rejected', '0:accepted', '1:released']);
    expect(sent.every((d) => d.remoteSettled)).toBe(true);
  });

  it('a multi-frame delivery aborted mid-way is dropped, the connection stays up and the next message arrives', () => {
    const h = connected();
    const link = attachReceiver(h, 'r', 10);
    h.peer.remoteTransfer({ payload: Buffer.alloc(1000, 1), more: true });
    h.peer.remoteTransfer({ payload: Buffer.alloc(1000, 2), more: true });
    h.peer.remoteTransfer({ aborted: true, settled: true });
    h.peer.remoteTransfer({ payload: Buffer.from('next') });
    h.peer.pump();
    const types = h.c.events.slice(-2).map((e) => e.type);
    expect(types).toEqual(['deliveryAborted', 'delivery']);
    expect(deliveries(h.c.events)).toEqual(['next']);
    const aborted = h.c.events.find((e) => e.type === 'deliveryAborted');
    expect(aborted?.type === 'deliveryAborted' && aborted.delivery.chunks).toBeUndefined();
    expect(link.current).toBeUndefined();
    expect(h.session.incomingUnsettled.size).toBe(1);
    expect(h.c.engine.finished).toBe(false);
    expect(h.c.events.some((e) => e.type === 'protocolError')).toBe(false);
  });

  it('an abort of a delivery whose frames never arrived is ignored', () => {
    const h = connected();
    attachReceiver(h, 'r', 10);
    h.peer.remoteTransfer({ aborted: true, settled: true });
    h.peer.remoteTransfer({ payload: Buffer.from('after') });
    h.peer.pump();
    expect(deliveries(h.c.events)).toEqual(['after']);
    expect(h.c.engine.finished).toBe(false);
  });

  it('a detach with an error reaches the link with its condition, and the detach is answered', () => {
    const h = connected();
    const link = attachSender(h, 's', 1);
    h.peer.expectTransfer();
    link.send(Buffer.from('pending'));
    h.peer.remoteDetach({ error: { condition: 'amqp:resource-deleted', description: 'gone', info: { why: 'test' } } });
    h.peer.expectDetach({ handle: 0, closed: true });
    h.peer.pump();
    h.peer.assertScriptComplete();
    const close = h.c.events.find((e) => e.type === 'linkRemoteClose');
    expect(close?.type === 'linkRemoteClose' && close.error).toMatchObject({
      condition: 'amqp:resource-deleted',
      description: 'gone',
      info: { why: 'test' },
    });
    expect(link.isOpen).toBe(false);
  });

  it('pre-settled sends are never tracked as unsettled', () => {
    const h = connected();
    const link = attachSender(h, 's', 5);
    h.peer.expectTransfer({ settled: true });
    const d = link.send(Buffer.from('fire-and-forget'), { settled: true });
    h.peer.pump();
    h.peer.assertScriptComplete();
    expect(d.settled).toBe(true);
    expect(h.session.outgoingUnsettled.size).toBe(0);
  });
});

describe('engine against a scripted peer: credit, drain and windows', () => {
  it('credit cut to zero by a flow stops sends; new credit allows them again', () => {
    const h = connected();
    const link = attachSender(h, 's', 5);
    h.peer.expectTransfer();
    link.send(Buffer.from('1'));
    h.peer.remoteFlow({ linkCredit: 0 });
    h.peer.pump();
    expect(link.credit).toBe(0);
    expect(() => link.send(Buffer.from('2'))).toThrow(/no credit/);
    h.peer.remoteFlow({ linkCredit: 2 });
    h.peer.expectTransfer({ payload: '2' });
    h.peer.pump();
    expect(link.credit).toBe(2);
    link.send(Buffer.from('2'));
    h.peer.pump();
    h.peer.assertScriptComplete();
  });

  it('a receiver drain completes when the sender answers with drain and the advanced delivery count', () => {
    const h = connected();
    const link = attachReceiver(h, 'r', 10);
    h.peer.remoteTransfer({ payload: Buffer.from('a') });
    h.peer.expectFlow({ handle: 0, drain: true, linkCredit: 9, deliveryCount: 1 }).respondDrained();
    h.peer.pump();
    link.requestDrain();
    h.peer.pump();
    h.peer.assertScriptComplete();
    expect(h.c.events.at(-1)?.type).toBe('linkDrained');
    expect(link.credit).toBe(0);
    expect(link.drain).toBe(false);
    expect(link.deliveryCount).toBe(10);
  });

  it('a sender asked to drain with nothing to send gives its credit back', () => {
    const h = connected();
    const link = attachSender(h, 's', 4);
    h.peer.expectTransfer();
    link.send(Buffer.from('one'));
    h.peer.remoteFlow({ linkCredit: 7, drain: true });
    h.peer.expectFlow({ handle: 0, drain: true, linkCredit: 0, deliveryCount: 8 });
    h.peer.pump();
    h.peer.assertScriptComplete();
    expect(link.credit).toBe(0);
    expect(link.drain).toBe(false);
  });

  it("one link's exhausted credit does not hold back another link of the same session", () => {
    const h = connected();
    const a = attachSender(h, 'a', 1);
    const b = attachSender(h, 'b', 10);
    h.peer.ignore('transfer');
    a.send(Buffer.from('a0'));
    for (let i = 0; i < 5; i++) b.send(Buffer.from(`b${i}`));
    h.peer.pump();
    expect(a.credit).toBe(0);
    const transfers = h.peer.received.filter((f) => f.kind === 'transfer').map((f) => f.payload!.toString());
    expect(transfers).toEqual(['a0', 'b0', 'b1', 'b2', 'b3', 'b4']);
    h.peer.remoteFlow({ handle: 0, linkCredit: 1 });
    h.peer.pump();
    expect(a.credit).toBe(1);
  });

  it('an incoming window of 0 from the peer holds transfers until a session flow widens it', () => {
    const h = connected({}, {}, { incomingWindow: 0 });
    const link = attachSender(h, 's', 5);
    link.send(Buffer.from('1'));
    link.send(Buffer.from('2'));
    link.send(Buffer.from('3'));
    h.peer.pump();
    expect(h.peer.frames('transfer')).toHaveLength(0);
    h.peer.remoteSessionFlow({ incomingWindow: 2 });
    h.peer.expectTransfer({ payload: '1' });
    h.peer.expectTransfer({ payload: '2' });
    h.peer.pump();
    h.peer.assertScriptComplete();
    expect(h.peer.frames('transfer')).toHaveLength(2);
    h.peer.remoteSessionFlow({ incomingWindow: 2 });
    h.peer.expectTransfer({ payload: '3' });
    h.peer.pump();
    h.peer.assertScriptComplete();
  });
});

describe('engine against a scripted peer: idle timeouts', () => {
  it('our idle timeout closes a connection whose peer went silent, with a protocol error and a close frame', () => {
    const h = connected({ idleTimeout: 1000 });
    h.c.engine.tick(0);
    expect(h.c.engine.tick(600)).toBeLessThanOrEqual(1000);
    h.peer.remoteEmptyFrame();
    expect(h.c.engine.tick(900)).toBeDefined();
    expect(h.c.engine.tick(1800)).toBeDefined();
    expect(h.c.engine.finished).toBe(false);
    h.peer.expectClose({ error: { condition: 'amqp:resource-limit-exceeded' } });
    expect(h.c.engine.tick(1900)).toBeUndefined();
    h.peer.pump();
    h.peer.assertScriptComplete();
    expect(signature(h.c.events).slice(-3)).toEqual([
      'idleTimeout',
      'protocolError amqp:resource-limit-exceeded',
      'connectionFinal',
    ]);
    expect(h.c.engine.finished).toBe(true);
  });

  it("with the peer's idle timeout set, ticking when asked keeps every silence under three quarters of it", () => {
    const remoteIdle = 1000;
    const h = connected({}, { idleTimeOut: remoteIdle });
    let now = 0;
    let lastSent = 0;
    let longest = 0;
    let heartbeats = 0;
    while (now < 20_000) {
      const next = h.c.engine.tick(now);
      expect(next).toBeDefined();
      const before = h.peer.received.length;
      h.peer.pump();
      const arrived = h.peer.received.slice(before);
      heartbeats += arrived.filter((f) => f.kind === 'empty').length;
      if (arrived.length > 0) {
        longest = Math.max(longest, now - lastSent);
        lastSent = now;
      }
      // The peer talks now and then (as a busy peer would): it must not break the rhythm.
      if (Math.floor(now / 3000) !== Math.floor(next! / 3000)) h.peer.remoteEmptyFrame();
      expect(next!).toBeGreaterThan(now);
      now = next!;
    }
    expect(heartbeats).toBeGreaterThan(20_000 / remoteIdle);
    expect(longest).toBeGreaterThanOrEqual(remoteIdle / 2);
    expect(longest).toBeLessThanOrEqual(remoteIdle * 0.75);
    expect(h.c.engine.finished).toBe(false);
  });
});

describe('engine against a scripted peer: malformed input', () => {
  const cases: { name: string; bytes: Buffer; condition: string }[] = [
    {
      name: 'a frame size smaller than a frame header',
      bytes: Buffer.from('0000000402000000', 'hex'),
      condition: 'amqp:connection:framing-error',
    },
    {
      name: 'a frame header declaring 4 GB',
      bytes: Buffer.from('ffffffff02000000', 'hex'),
      condition: 'amqp:connection:framing-error',
    },
    {
      name: 'a data offset beyond the frame',
      bytes: Buffer.from('0000000c0f000000deadbeef', 'hex'),
      condition: 'amqp:connection:framing-error',
    },
    {
      name: 'garbage after the frame header',
      bytes: Buffer.from('0000001002000000deadbeefcafef00d', 'hex'),
      condition: 'amqp:decode-error',
    },
    {
      name: 'an unknown performative descriptor',
      bytes: Buffer.from('0000000c0200000000539945', 'hex'),
      condition: 'amqp:decode-error',
    },
    {
      name: 'a known composite that is not a performative',
      bytes: Buffer.from('0000000c0200000000532445', 'hex'),
      condition: 'amqp:connection:framing-error',
    },
    {
      name: 'a SASL frame after SASL',
      bytes: Buffer.from('00000010020100000053 44c0030150 00'.replace(/ /g, ''), 'hex'),
      condition: 'amqp:connection:framing-error',
    },
    {
      name: 'a performative cut short inside its frame',
      bytes: Buffer.from('0000000e02000000005313c00503', 'hex'),
      condition: 'amqp:decode-error',
    },
  ];
  for (const c of cases) {
    it(`${c.name} closes the connection with ${c.condition}`, () => {
      const h = connected();
      h.peer.remoteBytes(c.bytes);
      h.peer.expectClose({ error: { condition: c.condition } });
      h.peer.pump();
      h.peer.assertScriptComplete();
      const error = h.c.events.find((e) => e.type === 'protocolError');
      expect(error?.type === 'protocolError' && error.error.condition).toBe(c.condition);
      expect(h.c.engine.finished).toBe(true);
    });
  }

  it('a transfer on a handle that is not attached closes the connection with amqp:session:unattached-handle', () => {
    const h = connected();
    attachReceiver(h, 'r', 1);
    h.peer.remoteFrame(
      compositeSpecs.transfer,
      { handle: 7, deliveryId: 0, deliveryTag: Buffer.from('t') },
      { payload: Buffer.from('x') },
    );
    h.peer.expectClose({ error: { condition: 'amqp:session:unattached-handle' } });
    h.peer.pump();
    h.peer.assertScriptComplete();
  });

  it('a header declaring 4 GB is refused at once, without waiting for or keeping its bytes', () => {
    const h = connected();
    const before = process.memoryUsage().arrayBuffers;
    h.peer.remoteBytes(Buffer.from('fffffff0020000000053', 'hex'));
    h.peer.expectClose({ error: { condition: 'amqp:connection:framing-error' } });
    h.peer.pump();
    expect(h.c.engine.finished).toBe(true);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 * 1024 * 1024);
  });
});

describe('engine against a scripted peer: dispositions', () => {
  function receiveSix(): { h: Harness; got: EngineEvent[] } {
    const h = connected();
    attachReceiver(h, 'r', 10);
    for (let i = 0; i < 6; i++) h.peer.remoteTransfer({ payload: Buffer.from(`m${i}`) });
    h.peer.pump();
    return { h, got: h.c.events.filter((e) => e.type === 'delivery') };
  }
  const settle = (events: EngineEvent[], states: (DeliveryState | undefined)[]): void => {
    states.forEach((s, i) => {
      const e = events[i];
      if (e?.type === 'delivery') e.delivery.update(s, true);
    });
  };
  const dispositions = (peer: ScriptedPeer): string[] =>
    peer
      .frames('disposition')
      .map(
        (d) =>
          `${String(d['first'])}..${String(d['last'] ?? d['first'])} ${(d['state'] as DeliveryState | undefined)?.kind} settled=${String(d['settled'])} role=${String(d['role'])}`,
      );

  it('runs of the same outcome are coalesced into ranges, and a reject between accepts is never merged', () => {
    const { h, got } = receiveSix();
    const rejected: DeliveryState = { kind: 'rejected', error: { condition: 'amqp:invalid-field' } };
    settle(got, [ACCEPTED, ACCEPTED, ACCEPTED, rejected, ACCEPTED, ACCEPTED]);
    h.peer.ignore('disposition');
    h.peer.pump();
    expect(dispositions(h.peer)).toEqual([
      '0..2 accepted settled=true role=true',
      '3..3 rejected settled=true role=true',
      '4..5 accepted settled=true role=true',
    ]);
    expect(h.peer.frames('disposition')[1]!['state']).toMatchObject(rejected);
  });

  it('released runs merge, modified never does, and a gap in the ids breaks a run', () => {
    const { h, got } = receiveSix();
    const modified: DeliveryState = { kind: 'modified', deliveryFailed: true };
    settle(got, [{ kind: 'released' }, { kind: 'released' }, modified, modified, undefined, ACCEPTED]);
    h.peer.ignore('disposition');
    h.peer.pump();
    expect(dispositions(h.peer)).toEqual([
      '0..1 released settled=true role=true',
      '2..2 modified settled=true role=true',
      '3..3 modified settled=true role=true',
      '4..4 undefined settled=true role=true',
      '5..5 accepted settled=true role=true',
    ]);
  });

  it('deliveries settled in descending order are not merged into a wrong range', () => {
    const { h, got } = receiveSix();
    for (const i of [2, 1, 0]) {
      const e = got[i];
      if (e?.type === 'delivery') e.delivery.update(ACCEPTED, true);
    }
    h.peer.ignore('disposition');
    h.peer.pump();
    expect(dispositions(h.peer)).toEqual([
      '2..2 accepted settled=true role=true',
      '1..1 accepted settled=true role=true',
      '0..0 accepted settled=true role=true',
    ]);
  });
});

describe('engine: link credit is enforced on the listening side', () => {
  /** Writes a one-frame transfer on the client's link whatever its credit (the engine's own send() would refuse). */
  function forceTransfer(pair: ReturnType<typeof senderPair>, id: number, body: string): void {
    pair.c.engine.writeFrame(
      pair.session.channel,
      compositeSpecs.transfer,
      { handle: pair.link.handle, deliveryId: id, deliveryTag: Buffer.from([id]), messageFormat: 0 },
      Buffer.from(body),
    );
  }
  const serverDeliveries = (pair: ReturnType<typeof senderPair>): string[] => deliveries(pair.s.events);
  const serverLink = (pair: ReturnType<typeof senderPair>): EngineLink => pair.s.engine.sessions[0]!.links[0]!;

  it('a transfer beyond the credit granted closes the link with amqp:link:transfer-limit-exceeded; nothing of it is kept, and the session and connection go on', () => {
    const pair = senderPair(2);
    const receiving = serverLink(pair);
    forceTransfer(pair, 0, '1');
    forceTransfer(pair, 1, '2');
    forceTransfer(pair, 2, '3, past the credit');
    pump(pair.c.engine, pair.s.engine);
    expect(serverDeliveries(pair)).toEqual(['1', '2']);
    const error = pair.s.events.find((e) => e.type === 'linkLocalError');
    expect(error?.type === 'linkLocalError' && error.error.condition).toBe('amqp:link:transfer-limit-exceeded');
    const detach = pair.c.events.find((e) => e.type === 'linkRemoteClose');
    expect(detach?.type === 'linkRemoteClose' && detach.error?.condition).toBe('amqp:link:transfer-limit-exceeded');
    expect(receiving.isOpen).toBe(false);
    expect(pair.s.engine.finished).toBe(false);
    expect(pair.s.engine.sessions[0]!.localState).toBe('open');
  });

  it('transfers the sender made before it saw our credit lowered are still taken (up to the credit once granted)', () => {
    const pair = senderPair(3);
    serverLink(pair).setCredit(0); // e.g. the queue filled; the sender may already have sent under the old credit
    forceTransfer(pair, 0, 'a');
    forceTransfer(pair, 1, 'b');
    forceTransfer(pair, 2, 'c');
    pump(pair.c.engine, pair.s.engine);
    expect(serverDeliveries(pair)).toEqual(['a', 'b', 'c']);
    expect(serverLink(pair).isOpen).toBe(true);
  });

  it('a link that was never granted credit takes no transfer at all', () => {
    const pair = senderPair(0);
    forceTransfer(pair, 0, 'uninvited');
    pump(pair.c.engine, pair.s.engine);
    expect(serverDeliveries(pair)).toEqual([]);
    expect(pair.s.events.some((e) => e.type === 'linkLocalError')).toBe(true);
  });

  it('a client tolerates a peer that sends past its credit (brokers in the field overshoot by one): the message is taken', () => {
    const h = connected();
    attachReceiver(h, 'r', 1);
    h.peer.remoteTransfer({ payload: Buffer.from('1') });
    h.peer.remoteTransfer({ payload: Buffer.from('2, one past') });
    h.peer.pump();
    expect(deliveries(h.c.events)).toEqual(['1', '2, one past']);
  });
});
