/**
 * The client API over a real TCP socket against a scripted peer: the edge cases no real broker
 * produces on demand (split frames, aborts, detaches with pending sends, credit and window
 * games, drain, silent peers, heartbeats, malformed frames, SASL and close variants, settle modes
 * and disposition coalescing), and that closing leaves nothing running.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { DeliveryState } from '../../src/codec/composite-types.js';
import { encodeMessage } from '../../src/codec/message.js';
import {
  AmqpError,
  AuthenticationError,
  ConnectionClosedError,
  ConnectionLostError,
  LinkClosedError,
  SessionClosedError,
  connect,
  type ConnectOptions,
  type Connection,
  type QuarkEvent,
} from '../../src/index.js';
import { ScriptedPeer, type FieldMatcher, type ReceivedFrame } from '../support/scripted-peer.js';

const ACCEPTED: DeliveryState = { kind: 'accepted' };

let peer: ScriptedPeer | undefined;
let conn: Connection | undefined;

afterEach(async () => {
  const closing = conn?.close().catch(() => undefined);
  await peer?.close();
  await closing;
  conn = undefined;
  peer = undefined;
});

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A listening peer scripted for SASL ANONYMOUS and open (and a begin when `begin` is given). */
async function scripted(options: { open?: FieldMatcher; begin?: FieldMatcher | false } = {}): Promise<ScriptedPeer> {
  peer = await ScriptedPeer.listen();
  peer.expectSaslAnonymous();
  peer.expectOpen().respond(options.open);
  if (options.begin !== false) peer.expectBegin().respond(options.begin ?? {});
  return peer;
}

async function open(p: ScriptedPeer, options: Partial<ConnectOptions> = {}): Promise<Connection> {
  // One scripted connection per test: these tests are about how a connection ends, so no reconnect.
  conn = await connect({ host: '127.0.0.1', port: p.port, reconnect: false, ...options });
  return conn;
}

/** Whether a promise is still pending after the event loop had time to settle it. */
async function isPending(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  await sleep(50);
  return !settled;
}

const body = (s: string): Uint8Array => encodeMessage({ body: s });

describe('client against a scripted peer: frames cut at any byte', () => {
  async function run(every: number | undefined): Promise<{ events: string[]; bodies: unknown[] }> {
    const p = await scripted();
    p.splitOutput({ every });
    p.ignore('flow', 'disposition');
    const b = body('b-is-a-longer-message-split-over-two-transfer-frames');
    p.expectAttach({ role: true }).respond();
    p.remoteMessage({ body: 'a' });
    p.remoteTransfer({ payload: b.subarray(0, 20), more: true });
    p.remoteTransfer({ payload: b.subarray(20) });
    p.remoteTransfer({ payload: body('lost').subarray(0, 5), more: true });
    p.remoteTransfer({ aborted: true, settled: true });
    p.remoteEmptyFrame();
    p.remoteMessage({ body: 'c' });
    const c = await open(p);
    const events: string[] = [];
    c.events$.subscribe((e: QuarkEvent) => events.push(e.type));
    const r = await c.createReceiver({ source: 'q', credit: 10 });
    const bodies: unknown[] = [];
    for (let i = 0; i < 3; i++) {
      const d = await r.receive({ timeout: 5000 });
      bodies.push(d.message.body);
      d.accept();
    }
    await p.waitForScriptToComplete();
    const closing = c.close();
    await p.close();
    await closing;
    conn = undefined;
    return { events, bodies };
  }

  it('a receiver gets the same messages and events whether the peer writes whole frames or pieces of 1 to 64 bytes', async () => {
    const whole = await run(undefined);
    expect(whole.bodies).toEqual(['a', 'b-is-a-longer-message-split-over-two-transfer-frames', 'c']);
    expect(whole.events).toContain('aborted');
    for (const every of [1, 2, 3, 5, 7, 8, 13, 31, 64]) {
      const cut = await run(every);
      expect(cut, `pieces of ${every} bytes`).toEqual(whole);
    }
  });
});

describe('client against a scripted peer: deliveries and links', () => {
  it('an aborted multi-frame delivery is discarded, the connection stays up and the next message arrives', async () => {
    const p = await scripted();
    p.expectAttach({ role: true }).respond();
    p.expectFlow({ linkCredit: 5 });
    p.remoteTransfer({ payload: Buffer.alloc(3000, 1), more: true });
    p.remoteTransfer({ payload: Buffer.alloc(3000, 2), more: true });
    p.remoteTransfer({ aborted: true, settled: true });
    p.remoteMessage({ body: 'next' });
    const c = await open(p);
    const events: string[] = [];
    c.events$.subscribe((e) => events.push(e.type));
    const r = await c.createReceiver({ source: 'q', credit: 5 });
    const d = await r.receive({ timeout: 5000 });
    expect(d.message.body).toBe('next');
    expect(events.filter((t) => t === 'aborted' || t === 'message')).toEqual(['aborted', 'message']);
    expect(c.isOpen).toBe(true);
    expect(r.isOpen).toBe(true);
    expect(r.buffered).toBe(0);
    await p.waitForScriptToComplete();
  });

  it('a detach with an error rejects every pending send with LinkClosedError carrying the condition, description and info', async () => {
    const p = await scripted();
    p.expectAttach({ role: false }).respond();
    p.remoteFlow({ linkCredit: 1 });
    p.expectTransfer({ payload: body('1') });
    p.remoteDetach({
      error: { condition: 'amqp:resource-deleted', description: 'queue deleted', info: { reason: 'test' } },
    });
    p.expectDetach({ closed: true });
    const c = await open(p);
    const s = await c.createSender('q');
    const sends = ['1', '2', '3'].map((m) =>
      s.send({ body: m }).then(
        () => 'resolved',
        (e: unknown) => e,
      ),
    );
    const results = await Promise.all(sends);
    for (const e of results) {
      expect(e).toBeInstanceOf(LinkClosedError);
      expect(e).toMatchObject({
        condition: 'amqp:resource-deleted',
        description: 'queue deleted',
        info: { reason: 'test' },
      });
    }
    expect(s.isOpen).toBe(false);
    await p.waitForScriptToComplete();
  });

  it('pre-settled sends resolve as soon as they are written, without a disposition', async () => {
    const p = await scripted();
    p.expectAttach({ role: false, sndSettleMode: 1 }).respond();
    p.remoteFlow({ linkCredit: 5 });
    p.expectTransfer({ settled: true, payload: body('x') });
    p.expectTransfer({ settled: true, payload: body('y') });
    const c = await open(p);
    const s = await c.createSender({ target: 'q', deliveryMode: 'at-most-once' });
    await expect(s.send({ body: 'x' })).resolves.toBeUndefined();
    await expect(s.send({ body: 'y' })).resolves.toBeUndefined();
    await p.waitForScriptToComplete();
  });

  it('settlement out of order resolves and rejects each send by its own outcome', async () => {
    const p = await scripted();
    p.expectAttach({ role: false }).respond();
    p.remoteFlow({ linkCredit: 5 });
    p.expectTransfer();
    p.expectTransfer();
    p.expectTransfer();
    p.remoteDisposition({
      role: true,
      first: 2,
      settled: true,
      state: { kind: 'rejected', error: { condition: 'amqp:precondition-failed', description: 'no' } },
    });
    p.remoteDisposition({ role: true, first: 0, last: 1, settled: true, state: { kind: 'released' } });
    const c = await open(p);
    const s = await c.createSender('q');
    const order: string[] = [];
    const results = await Promise.all(
      [0, 1, 2].map((i) =>
        s.send({ body: i }).then(
          (r) => {
            order.push(`${i}`);
            return r?.kind;
          },
          (e: AmqpError) => {
            order.push(`${i}`);
            return e.condition;
          },
        ),
      ),
    );
    expect(results).toEqual(['amqp:released', 'amqp:released', 'amqp:precondition-failed']);
    expect(order).toEqual(['2', '0', '1']);
  });

  it('rcv-settle-mode second: a receiver accepts without settling, and settles when the sender has', async () => {
    const p = await scripted();
    p.ignore('flow');
    p.expectAttach({ role: true, rcvSettleMode: 1 }).respond();
    p.expectFlow({ linkCredit: 1 });
    p.remoteMessage({ body: 'twice' });
    p.expectDisposition({ role: true, first: 0, settled: (v: unknown) => !v, state: { kind: 'accepted' } });
    p.remoteDisposition({ role: false, first: 0, settled: true, state: ACCEPTED });
    const c = await open(p);
    const r = await c.createReceiver({ source: 'q', credit: 1, rcvSettleMode: 'second' });
    const d = await r.receive({ timeout: 5000 });
    d.accept();
    expect(d.settled).toBe(false);
    await p.waitForScriptToComplete();
    await sleep(20);
    expect(d.remoteSettled).toBe(true);
    expect(d.settled).toBe(true);
    expect(p.frames('disposition')).toHaveLength(1);
  });

  it('rcv-settle-mode second: a sender settles after the receiver gave its outcome, then resolves', async () => {
    const p = await scripted();
    p.expectAttach({ role: false, rcvSettleMode: 1 }).respond();
    p.remoteFlow({ linkCredit: 1 });
    p.expectTransfer().respondDisposition(ACCEPTED, false);
    // The sender settles; it need not repeat the state (spec 2.7.6).
    p.expectDisposition({ role: false, first: 0, settled: true });
    const c = await open(p);
    const s = await c.createSender({ target: 'q', rcvSettleMode: 'second' });
    await expect(s.send({ body: 'm' })).resolves.toMatchObject({ kind: 'accepted' });
    await p.waitForScriptToComplete();
  });

  it('a reject between accepts settled in the same turn goes out as its own disposition; runs of accepts become ranges', async () => {
    const p = await scripted();
    p.ignore('flow', 'disposition');
    p.expectAttach({ role: true }).respond();
    for (let i = 0; i < 6; i++) p.remoteMessage({ body: i });
    const c = await open(p);
    const r = await c.createReceiver({ source: 'q', credit: 10 });
    const got = [];
    for (let i = 0; i < 6; i++) got.push(await r.receive({ timeout: 5000 }));
    got.forEach((d, i) => (i === 3 ? d.reject({ condition: 'amqp:invalid-field', description: 'bad' }) : d.accept()));
    await p.waitForFrames((frames) => frames.filter((f) => f.kind === 'disposition').length >= 3);
    await sleep(20);
    const dispositions = p
      .frames('disposition')
      .map((d) => `${String(d['first'])}..${String(d['last'] ?? d['first'])} ${(d['state'] as DeliveryState).kind}`);
    expect(dispositions).toEqual(['0..2 accepted', '3..3 rejected', '4..5 accepted']);
  });
});

describe('client against a scripted peer: credit, drain and windows', () => {
  it('credit cut to zero makes send() wait, and new credit lets it go on', async () => {
    const p = await scripted();
    p.expectAttach({ role: false }).respond();
    p.remoteFlow({ linkCredit: 2 });
    p.expectTransfer({ payload: body('1') }).accept();
    p.remoteFlow({ linkCredit: 0 });
    const c = await open(p);
    const s = await c.createSender('q');
    await s.send({ body: '1' });
    await p.waitForScriptToComplete();
    await sleep(20);
    expect(s.credit).toBe(0);
    const second = s.send({ body: '2' });
    expect(await isPending(second)).toBe(true);
    expect(p.frames('transfer')).toHaveLength(1);
    p.remoteFlow({ linkCredit: 1 });
    p.expectTransfer({ payload: body('2') }).accept();
    await p.waitForScriptToComplete();
    await expect(second).resolves.toMatchObject({ kind: 'accepted' });
  });

  it('receiver.drain() resolves once the sender answers with drain and its advanced delivery count', async () => {
    const p = await scripted();
    p.expectAttach({ role: true }).respond();
    p.expectFlow({ linkCredit: 5, deliveryCount: 0 });
    p.remoteMessage({ body: 'a' });
    p.remoteMessage({ body: 'b' });
    p.expectFlow({ drain: true, linkCredit: 3, deliveryCount: 2 }).respondDrained();
    const c = await open(p);
    const r = await c.createReceiver({ source: 'q', credit: 0 });
    r.addCredit(5);
    await r.receive({ timeout: 5000 });
    await r.receive({ timeout: 5000 });
    await r.drain({ timeout: 5000 });
    expect(r.credit).toBe(0);
    await p.waitForScriptToComplete();
  });

  it("a drain whose session the peer ends (as RabbitMQ 3.10 does) fails saying so, quoting only the start of the peer's description", async () => {
    const p = await scripted();
    const stack = `{function_clause,[{rabbit_classic_queue,handle_event,[{send_drained,${'x'.repeat(400)}}]}]}`;
    p.expectAttach({ role: true }).respond();
    p.expectFlow({ linkCredit: 5 });
    p.expectFlow({ drain: true, linkCredit: 5 });
    p.remoteEnd({ error: { condition: 'amqp:internal-error', description: stack } });
    p.expectEnd();
    const c = await open(p);
    const r = await c.createReceiver({ source: '/queue/q', credit: 0 });
    r.addCredit(5);
    await expect.poll(() => p.frames('flow').length).toBe(1); // the credit, then the drain in a flow of its own
    const error = await r.drain({ timeout: 5000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SessionClosedError);
    expect((error as SessionClosedError).condition).toBe('amqp:internal-error');
    expect((error as SessionClosedError).description).toBe(stack); // the whole of it
    expect((error as SessionClosedError).message).toBe(
      "The peer ended the session (amqp:internal-error) while a drain was under way on the receiver from '/queue/q': it may not support drain (RabbitMQ 3.10 does not); " +
        `take messages with credit and a receive timeout instead. The peer said: ${stack.slice(0, 120)}... (the rest is in error.description)`,
    );
    await p.waitForScriptToComplete();
  });

  it('a sender asked to drain with nothing to send gives its credit back', async () => {
    const p = await scripted();
    p.expectAttach({ role: false }).respond();
    p.remoteFlow({ linkCredit: 5, drain: true });
    p.expectFlow({ drain: true, linkCredit: 0, deliveryCount: 5 });
    const c = await open(p);
    const s = await c.createSender('q');
    await p.waitForScriptToComplete();
    expect(s.credit).toBe(0);
  });

  it('one sender out of credit waits while another on the same session keeps sending', async () => {
    const p = await scripted();
    p.acceptTransfers();
    p.expectAttach({ name: (n: unknown) => String(n).startsWith('sender-1'), role: false }).respond();
    p.remoteFlow({ handle: 0, linkCredit: 1 });
    p.expectAttach({ name: (n: unknown) => String(n).startsWith('sender-2'), role: false }).respond();
    p.remoteFlow({ handle: 1, linkCredit: 10 });
    const c = await open(p);
    const a = await c.createSender('a');
    const b = await c.createSender('b');
    await p.waitForScriptToComplete();
    const fromA = [0, 1, 2].map((i) => a.send({ body: `a${i}` }));
    const fromB = [0, 1, 2, 3, 4].map((i) => b.send({ body: `b${i}` }));
    await Promise.all([...fromB, fromA[0]!]);
    expect(await isPending(fromA[1]!)).toBe(true);
    expect(a.pending).toBe(2);
    p.remoteFlow({ handle: 0, linkCredit: 2 });
    await Promise.all(fromA);
    const handles = p.frames('transfer').map((t) => t['handle']);
    expect(handles.filter((h) => h === 0)).toHaveLength(3);
    expect(handles.filter((h) => h === 1)).toHaveLength(5);
  });

  it('an incoming window of 0 from the peer holds transfers until a session flow widens it', async () => {
    const p = await scripted({ begin: { incomingWindow: 0 } });
    p.acceptTransfers();
    p.expectAttach({ role: false }).respond();
    p.remoteFlow({ linkCredit: 5 });
    const c = await open(p);
    const s = await c.createSender('q');
    const sends = [s.send({ body: 1 }), s.send({ body: 2 })];
    expect(await isPending(sends[0]!)).toBe(true);
    expect(p.frames('transfer')).toHaveLength(0);
    p.remoteSessionFlow({ incomingWindow: 10 });
    await Promise.all(sends);
    expect(p.frames('transfer')).toHaveLength(2);
  });
});

describe('client against a scripted peer: silence and heartbeats', () => {
  it('a peer that stops answering is detected by our idle timeout: the connection fails with ConnectionLostError and pending calls reject', async () => {
    const p = await scripted();
    p.expectAttach({ role: false }); // never answered
    p.expectClose({ error: { condition: 'amqp:resource-limit-exceeded' } });
    const c = await open(p, { idleTimeout: 300 });
    const started = performance.now();
    const attach = c.createSender('q').then(
      () => 'attached',
      (e: unknown) => e,
    );
    const err = await attach;
    const took = performance.now() - started;
    expect(err).toBeInstanceOf(ConnectionLostError);
    expect((err as AmqpError).message).toMatch(/300 ms/);
    expect(c.error).toBeInstanceOf(ConnectionLostError); // the same failure (the caller gets a copy with its own stack)
    expect(c.error?.message).toBe((err as AmqpError).message);
    expect(took).toBeLessThan(1500);
    await p.waitForScriptToComplete();
    await p.socketClosed;
  });

  it("with the peer's idle timeout set, Quark writes empty frames often enough on an otherwise silent connection", async () => {
    const p = await scripted({ open: { idleTimeOut: 600 }, begin: false });
    const c = await open(p);
    const since = performance.now();
    await sleep(2000);
    const frames = p.received.filter((f: ReceivedFrame) => (f.at ?? 0) >= since - 1);
    expect(frames.filter((f) => f.kind === 'empty').length).toBeGreaterThanOrEqual(3);
    // Quark aims at half the peer's timeout; the peer gives up only after all of it.
    let last = since;
    for (const f of frames) {
      expect(f.at! - last).toBeLessThan(600);
      last = f.at!;
    }
    expect(performance.now() - last).toBeLessThan(600);
    expect(c.isOpen).toBe(true);
  });
});

describe('client against a scripted peer: malformed frames', () => {
  const cases: { name: string; bytes: string; condition: string }[] = [
    {
      name: 'a frame size smaller than its header',
      bytes: '0000000402000000',
      condition: 'amqp:connection:framing-error',
    },
    { name: 'a frame header declaring 4 GB', bytes: 'ffffffff02000000', condition: 'amqp:connection:framing-error' },
    {
      name: 'garbage after the frame header',
      bytes: '0000001002000000deadbeefcafef00d',
      condition: 'amqp:decode-error',
    },
    { name: 'an unknown performative', bytes: '0000000c0200000000539945', condition: 'amqp:decode-error' },
  ];
  for (const k of cases) {
    it(`${k.name} closes the connection with ${k.condition} and rejects a pending receive`, async () => {
      const p = await scripted();
      p.expectAttach({ role: true }).respond();
      p.expectFlow();
      const c = await open(p);
      const r = await c.createReceiver({ source: 'q', credit: 1 });
      const pending = r.receive({ timeout: 5000 }).then(
        () => 'received',
        (e: unknown) => e,
      );
      await p.waitForScriptToComplete();
      p.remoteBytes(Buffer.from(k.bytes, 'hex'));
      p.expectClose({ error: { condition: k.condition } });
      const err = await pending;
      expect(err).toBeInstanceOf(AmqpError);
      expect((err as AmqpError).condition).toBe(k.condition);
      expect(c.error?.condition).toBe(k.condition);
      await p.waitForScriptToComplete();
      await p.socketClosed;
    });
  }
});

describe('client against a scripted peer: SASL, refusal and close', () => {
  it('SASL PLAIN sends a non-ASCII user name and password intact in UTF-8', async () => {
    peer = await ScriptedPeer.listen();
    peer.expectSaslPlain('üser-名前', 'pässwörd✓');
    peer.expectOpen().respond();
    const c = await open(peer, { username: 'üser-名前', password: 'pässwörd✓' });
    expect(c.isOpen).toBe(true);
    await peer.waitForScriptToComplete();
    const init = peer.frames('saslInit')[0]!;
    expect(Buffer.from(init['initialResponse'] as Uint8Array).toString('utf8')).toBe('\u0000üser-名前\u0000pässwörd✓');
  });

  it('a SASL failure outcome makes connect() reject with AuthenticationError', async () => {
    peer = await ScriptedPeer.listen();
    peer.expectSaslFailure(1);
    const err = await connect({ host: '127.0.0.1', port: peer.port, username: 'u', password: 'wrong' }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AuthenticationError);
    expect((err as AuthenticationError).condition).toBe('amqp:unauthorized-access');
    await peer.socketClosed;
  });

  it('a peer that sends open then close at once makes connect() reject with its condition', async () => {
    peer = await ScriptedPeer.listen();
    peer.expectSaslAnonymous();
    peer.expectOpen().respond();
    peer.remoteClose({ error: { condition: 'amqp:not-allowed', description: 'no connections today' } });
    peer.expectClose();
    const err = await connect({ host: '127.0.0.1', port: peer.port }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionClosedError);
    expect(err).toMatchObject({ condition: 'amqp:not-allowed', description: 'no connections today' });
    await peer.waitForScriptToComplete();
  });

  it('a peer that sends open then a clean close at once makes connect() reject too', async () => {
    peer = await ScriptedPeer.listen();
    peer.expectSaslAnonymous();
    peer.expectOpen().respond();
    peer.remoteClose();
    const err = await connect({ host: '127.0.0.1', port: peer.port }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionClosedError);
  });

  it('a remote close with an error gives ConnectionClosedError with its condition, description and info to pending calls', async () => {
    const p = await scripted({ begin: false });
    p.expectBegin(); // never answered
    p.remoteClose({
      error: { condition: 'amqp:connection:forced', description: 'shutting down', info: { node: 'n1' } },
    });
    p.expectClose();
    const c = await open(p);
    const err = await c.createSession().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionClosedError);
    expect(err).toMatchObject({
      condition: 'amqp:connection:forced',
      description: 'shutting down',
      info: { node: 'n1' },
      byPeer: true,
    });
    expect(c.error).toBe(err);
    await p.waitForScriptToComplete();
  });

  it('a dropped connection rejects pending sends with ConnectionLostError', async () => {
    const p = await scripted();
    p.expectAttach({ role: false }).respond();
    p.remoteFlow({ linkCredit: 1 });
    p.expectTransfer();
    p.dropConnection();
    const c = await open(p);
    const s = await c.createSender('q');
    const err = await s.send({ body: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionLostError);
  });

  it('close() leaves no socket, timer or listener behind', async () => {
    // Sockets, servers and immediates must match exactly; timers may only be fewer (the test
    // runner keeps timers of its own).
    const resources = (): string[] =>
      process
        .getActiveResourcesInfo()
        .filter((r) => /^(TCP|Immediate|Pipe)/.test(r))
        .sort();
    const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const p = await scripted();
    const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
    await turn();
    const before = resources();
    const timersBefore = timers();
    p.acceptTransfers();
    p.ignore('flow', 'disposition');
    p.expectAttach({ role: false }).respond();
    p.remoteFlow({ linkCredit: 10 });
    p.expectAttach({ role: true }).respond();
    p.remoteMessage({ body: 'in' });
    const c = await open(p, { idleTimeout: 5000 });
    const listenerCount = process.listenerCount('exit') + process.listenerCount('beforeExit');
    const s = await c.createSender('out');
    await s.send({ body: 'x' }, { timeout: 5000 });
    const r = await c.createReceiver({ source: 'in', credit: 5 });
    (await r.receive({ timeout: 5000 })).accept();
    p.expectClose().respond();
    await c.close();
    conn = undefined;
    await p.socketClosed;
    await turn();
    p.assertScriptComplete();
    expect(resources()).toEqual(before);
    expect(timers()).toBeLessThanOrEqual(timersBefore);
    expect(process.listenerCount('exit') + process.listenerCount('beforeExit')).toBe(listenerCount);
    expect(c.transport?.stream.destroyed).toBe(true);
    expect(c.transport?.stream.listenerCount('data')).toBeLessThanOrEqual(1);
  });
});
