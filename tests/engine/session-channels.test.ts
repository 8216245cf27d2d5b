/**
 * Session channels are reused once free on both sides (transport 2.5.1: a channel is free when
 * both ends have sent end), never before: a session ended before the peer answered its begin
 * keeps its channel until the peer's begin and end for it have arrived.
 */
import { describe, expect, it } from 'vitest';
import type { EngineSession } from '../../src/engine/session.js';
import { recordEngine, type RecordedEngine } from '../support/engine-pair.js';
import { ScriptedPeer } from '../support/scripted-peer.js';

function opened(): { c: RecordedEngine; peer: ScriptedPeer } {
  const c = recordEngine({ role: 'client', containerId: 'quark' });
  const peer = ScriptedPeer.inMemory(c.engine);
  peer.expectSaslAnonymous();
  peer.expectOpen().respond();
  c.engine.open();
  peer.pump();
  peer.assertScriptComplete();
  return { c, peer };
}

/** Begins a session the peer answers at once, and checks the channel it took. */
function begun(c: RecordedEngine, peer: ScriptedPeer, channel: number): EngineSession {
  let sentOn = -1;
  peer
    .expectBegin({ remoteChannel: undefined })
    .then((f) => (sentOn = f.channel))
    .respond();
  const session = c.engine.createSession();
  session.open();
  peer.pump();
  peer.assertScriptComplete();
  expect(sentOn).toBe(channel);
  expect(session.channel).toBe(channel);
  expect(session.remoteState).toBe('open');
  return session;
}

/** A link attached on `session` and answered: the session works on its channel. */
function attachOn(peer: ScriptedPeer, session: EngineSession, name: string): void {
  peer
    .expectAttach({ name })
    .then((f) => expect(f.channel).toBe(session.channel))
    .respond();
  const link = session.createLink({ name, role: 'sender', target: { kind: 'target', address: name } });
  link.open();
  peer.pump();
  peer.assertScriptComplete();
  expect(link.remoteState).toBe('open');
}

const protocolErrors = (c: RecordedEngine): unknown[] => c.events.filter((e) => e.type === 'protocolError');

describe('session channels', () => {
  it('a channel we ended and the peer answered is taken by the next session, which works there', () => {
    const { c, peer } = opened();
    const first = begun(c, peer, 0);
    peer.expectEnd().respond();
    first.end();
    peer.pump();
    const second = begun(c, peer, 0);
    attachOn(peer, second, 'after-reuse');
    expect(protocolErrors(c)).toEqual([]);
  });

  it('a channel the peer ended (and we answered) is taken by the next session, which works there', () => {
    const { c, peer } = opened();
    const first = begun(c, peer, 0);
    peer.remoteEnd({ channel: 0 });
    peer.expectEnd();
    peer.pump();
    expect(first.localState).toBe('closed');
    const second = begun(c, peer, 0);
    attachOn(peer, second, 'after-reuse');
    expect(protocolErrors(c)).toEqual([]);
  });

  it("a session ended before the peer answered its begin keeps its channel until the peer's begin and end arrive; the session begun meanwhile is not ended by them", () => {
    const { c, peer } = opened();
    peer.expectBegin(); // not answered yet
    const early = c.engine.createSession();
    early.open();
    peer.pump();
    peer.expectEnd();
    early.end();
    peer.pump();
    // Its channel is still the peer's to answer on: the next session takes another.
    peer.expectBegin();
    const meanwhile = c.engine.createSession();
    meanwhile.open();
    peer.pump();
    peer.assertScriptComplete();
    expect(meanwhile.channel).toBe(1);
    // The peer answers the early begin, ends that session, then answers the second begin.
    peer.remoteBegin({ channel: 0, remoteChannel: 0 });
    peer.remoteEnd({ channel: 0 });
    peer.remoteBegin({ channel: 1, remoteChannel: 1 });
    peer.pump();
    expect(protocolErrors(c)).toEqual([]);
    expect(meanwhile.localState).toBe('open');
    expect(meanwhile.remoteState).toBe('open');
    attachOn(peer, meanwhile, 'meanwhile');
    // Now both ends have ended the early session: its channel is free for the next one.
    const third = begun(c, peer, 0);
    attachOn(peer, third, 'third');
    expect(c.engine.finished).toBe(false);
  });
});
