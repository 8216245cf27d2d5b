/**
 * The scripted peer verifies its script after every test, whether the test asks or not. These
 * tests are expected to fail (`it.fails`): each leaves its peer with a problem and never checks.
 */
import { describe, expect, it } from 'vitest';
import { connect } from '../../src/index.js';
import { ScriptedPeer } from '../support/scripted-peer.js';

describe('a test using a scripted peer fails, without asking, when', () => {
  it.fails('the peer saw a frame its script did not expect (in memory)', async () => {
    const { ProtocolEngine } = await import('../../src/engine/engine.js');
    const engine = new ProtocolEngine({ role: 'client', containerId: 'c', saslMechanisms: false });
    const peer = ScriptedPeer.inMemory(engine);
    engine.open();
    peer.pump(); // the header and open arrive; the script expects nothing
    expect(peer.received.length).toBeGreaterThan(0);
  });

  it.fails('a step of its script never ran (over TCP, the test closing the peer itself)', async () => {
    const peer = await ScriptedPeer.listen();
    peer.expectSaslAnonymous();
    peer.expectOpen().respond();
    peer.expectBegin().respond(); // never comes: the test makes no session
    const connection = await connect({ host: '127.0.0.1', port: peer.port, reconnect: false });
    await peer.waitForFrames((frames) => frames.some((f) => f.kind === 'open'));
    await peer.close();
    await connection.close().catch(() => undefined);
  });

  it.fails('a step of its script never ran (over TCP, a peer the test forgot to close)', async () => {
    const peer = await ScriptedPeer.listen();
    peer.expectSaslAnonymous(); // nobody connects
  });

  it('and passes when the script ran whole, the test never asking', async () => {
    const peer = await ScriptedPeer.listen();
    peer.expectSaslAnonymous();
    peer.expectOpen().respond();
    const connection = await connect({ host: '127.0.0.1', port: peer.port, reconnect: false });
    await peer.waitForFrames((frames) => frames.some((f) => f.kind === 'open'));
    await peer.close(); // judged here: the close Quark sends next is the cleanup's, not the script's
    await connection.close().catch(() => undefined);
  });
});
