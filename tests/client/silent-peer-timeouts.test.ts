/**
 * A peer that never answers our open or our close: connect({ timeout }) and close({ timeout })
 * reject with TimeoutError in time, a plain close() drops the socket after its own bound (5 s),
 * and none of them leaves a socket or a timer behind.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TimeoutError, connect, type Connection } from '../../src/index.js';
import { ScriptedPeer } from '../support/scripted-peer.js';

let conn: Connection | undefined;

/**
 * Timers set and neither fired nor cleared yet. Counting the process's timers would not do: the
 * test runner's own come and go.
 */
const liveTimers = new Set<NodeJS.Timeout>();
beforeEach(() => {
  const realSetTimeout = globalThis.setTimeout;
  const realClearTimeout = globalThis.clearTimeout;
  vi.spyOn(globalThis, 'setTimeout').mockImplementation(((
    callback: (...args: unknown[]) => void,
    ms?: number,
    ...args: unknown[]
  ) => {
    const timer = realSetTimeout(() => {
      liveTimers.delete(timer);
      callback(...args);
    }, ms);
    liveTimers.add(timer);
    return timer;
  }) as typeof setTimeout);
  vi.spyOn(globalThis, 'clearTimeout').mockImplementation((timer?: string | number | NodeJS.Timeout) => {
    if (typeof timer === 'object') liveTimers.delete(timer);
    realClearTimeout(timer);
  });
});

afterEach(async () => {
  vi.restoreAllMocks();
  liveTimers.clear();
  await conn?.close({ timeout: 1000 }).catch(() => undefined);
  conn = undefined;
});

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
/** TCP connections open now (the test runner's own are pipes; the peer's listening server is not counted). */
const sockets = (): string[] => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap');

/** TCP connections with the peer listening, before the test's connection. */
async function baseline(): Promise<string[]> {
  await turn();
  return sockets();
}

/** Once the peer's socket has closed: Quark's socket is gone too, and every timer it set has fired or been cleared. */
async function expectNothingLeft(before: string[], peer: ScriptedPeer): Promise<void> {
  await peer.socketClosed;
  // Node drops a closed socket's handle a moment after its close event.
  for (let i = 0; i < 200 && sockets().join() !== before.join(); i++)
    await new Promise((resolve) => setTimeout(resolve, 5));
  expect(sockets()).toEqual(before);
  expect(liveTimers.size).toBe(0);
}

/** A peer that answers SASL and open (when `open`), and expects our close but never answers it. */
async function silentPeer(open: boolean): Promise<ScriptedPeer> {
  const peer = await ScriptedPeer.listen();
  peer.expectSaslAnonymous();
  const expected = peer.expectOpen();
  if (open) {
    expected.respond();
    peer.expectClose(); // never answered
  }
  return peer;
}

describe('a peer that never answers', { timeout: 20_000 }, () => {
  it('our open: connect({ timeout }) rejects with TimeoutError in time, and leaves no socket or timer', async () => {
    const peer = await silentPeer(false);
    const before = await baseline();
    const started = performance.now();
    const error = await connect({ host: '127.0.0.1', port: peer.port, reconnect: false, timeout: 300 }).then(
      (c) => {
        conn = c;
        return 'opened';
      },
      (e: unknown) => e,
    );
    const took = performance.now() - started;
    expect(error).toBeInstanceOf(TimeoutError);
    expect((error as TimeoutError).condition).toBe('quark:timeout');
    expect(took).toBeGreaterThanOrEqual(290);
    expect(took).toBeLessThan(2000);
    await peer.waitForScriptToComplete();
    await expectNothingLeft(before, peer);
  });

  it('our close: close({ timeout }) rejects with TimeoutError in time, drops the socket, and leaves no timer', async () => {
    const peer = await silentPeer(true);
    const before = await baseline();
    const c = await connect({ host: '127.0.0.1', port: peer.port, reconnect: false });
    const started = performance.now();
    const error = await c.close({ timeout: 300 }).then(
      () => 'closed',
      (e: unknown) => e,
    );
    const took = performance.now() - started;
    expect(error).toBeInstanceOf(TimeoutError);
    expect(took).toBeGreaterThanOrEqual(290);
    expect(took).toBeLessThan(2000);
    expect(c.isOpen).toBe(false);
    await peer.waitForScriptToComplete();
    await expectNothingLeft(before, peer);
    // The close the peer never answered is over: closing again is at once.
    await expect(c.close()).resolves.toBeUndefined();
  });

  it('our close: a plain close() drops the socket after 5 s and resolves, leaving no timer', async () => {
    const peer = await silentPeer(true);
    const before = await baseline();
    const c = await connect({ host: '127.0.0.1', port: peer.port, reconnect: false });
    const started = performance.now();
    await c.close();
    const took = performance.now() - started;
    expect(took).toBeGreaterThanOrEqual(4900);
    expect(took).toBeLessThan(8000);
    await peer.waitForScriptToComplete();
    await expectNothingLeft(before, peer);
  });
});
