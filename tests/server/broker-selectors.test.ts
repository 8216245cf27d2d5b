/**
 * Message selectors through the embedded broker (issue #11), with Quark clients over loopback:
 * the broker applies `apache.org:selector-filter:string` on queue consumers, browsers and topic
 * subscriptions, refuses an invalid selector at attach with amqp:invalid-field, echoes only the
 * filters it applies; and the client's `selector` option fails when the peer does not echo it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  InvalidArgumentError,
  Described,
  LinkClosedError,
  TimeoutError,
  connect,
  described,
  listen,
  startBroker,
  symbol,
  ulong,
  type AmqpValue,
  type Broker,
  type Connection,
  type Listener,
  type Receiver,
  type Sender,
} from '../../src/index.js';

const SELECTOR = 'apache.org:selector-filter:string';

let broker: Broker | undefined;
let listener: Listener | undefined;
const conns: Connection[] = [];
afterEach(async () => {
  for (const c of conns.splice(0)) await c.close().catch(() => undefined);
  await listener?.close();
  listener = undefined;
  await broker?.close();
  broker = undefined;
});

async function client(url = broker!.url): Promise<Connection> {
  const c = await connect(url);
  conns.push(c);
  return c;
}

/** Sends one message per colour (`undefined`: no colour property), each with the body `<colour> <n>`, n from 1. */
async function sendColours(
  sender: Sender,
  colours: (string | undefined)[],
  extra: Record<string, AmqpValue> = {},
): Promise<void> {
  let n = 0;
  for (const colour of colours) {
    n++;
    await sender.send({
      body: `${colour ?? 'none'} ${n}`,
      applicationProperties: colour === undefined ? { ...extra } : { colour, ...extra },
    });
  }
}

/** Takes `n` messages (accepting each) and returns their bodies, in the order they came. */
async function take(receiver: Receiver, n: number): Promise<unknown[]> {
  const bodies: unknown[] = [];
  for (let i = 0; i < n; i++) {
    const d = await receiver.receive({ timeout: 5000 });
    bodies.push(d.message.body);
    d.accept();
  }
  return bodies;
}

/** Asserts the receiver gets nothing more within `ms`. */
async function expectNothing(receiver: Receiver, ms = 300): Promise<void> {
  const got = await receiver.receive({ timeout: ms }).then(
    (d) => d.message.body,
    (e: unknown) => e,
  );
  expect(got).toBeInstanceOf(TimeoutError);
}

/** The error a promise rejects with (fails the test if it resolves). */
async function rejection(p: Promise<unknown>): Promise<Error> {
  return p.then(
    (v) => {
      throw new Error(`expected a rejection, got ${String(v)}`);
    },
    (e: unknown) => e as Error,
  );
}

const GREEN = "colour = 'green'";

describe('selectors on queue consumers', () => {
  it("a receiver with colour = 'green' gets only the green messages, in order; red ones wait for a consumer without a selector", async () => {
    broker = await startBroker({ port: 0 });
    const conn = await client();
    const sender = await conn.createSender('paint');
    // Red at the head: it must not hold back the green ones behind it.
    await sendColours(sender, ['red', 'red', 'green', 'red', 'green', 'green', 'red']);
    expect(broker.queue('paint')).toMatchObject({ depth: 7 });

    const greens = await conn.createReceiver('paint', { selector: GREEN });
    expect(await take(greens, 3)).toEqual(['green 3', 'green 5', 'green 6']);
    await expectNothing(greens);
    await expect.poll(() => broker!.queue('paint')).toMatchObject({ depth: 4, inFlight: 0 });

    // Sent while the selecting receiver is attached: green goes to it at once, red stays.
    await sendColours(sender, ['red', 'green']);
    expect(await take(greens, 1)).toEqual(['green 2']);
    await expectNothing(greens);
    await expect.poll(() => broker!.queue('paint')).toMatchObject({ depth: 5, inFlight: 0 });

    const rest = await (await client()).createReceiver('paint');
    expect(await take(rest, 5)).toEqual(['red 1', 'red 2', 'red 4', 'red 7', 'red 1']);
    await expectNothing(rest);
    await expect.poll(() => broker!.queue('paint')).toMatchObject({ depth: 0, inFlight: 0 });
  });

  it('messages nobody selects do not block selected ones: 1000 red at the head, then 1000 green', async () => {
    broker = await startBroker({ port: 0 });
    const conn = await client();
    const greens = await conn.createReceiver('heap', { selector: GREEN, credit: 50 });
    const sender = await conn.createSender('heap');
    const colours = [...Array.from({ length: 1000 }, () => 'red'), ...Array.from({ length: 1000 }, () => 'green')];
    const started = Date.now();
    await sender.sendAll(colours.map((colour, i) => ({ body: i, applicationProperties: { colour } })));
    const bodies = await take(greens, 1000);
    expect(bodies).toEqual(Array.from({ length: 1000 }, (_, i) => 1000 + i));
    const ms = Date.now() - started;
    await expectNothing(greens);
    await expect.poll(() => broker!.queue('heap')).toMatchObject({ depth: 1000, inFlight: 0 });
    expect(ms).toBeLessThan(20_000);
  });

  it('two consumers with complementary selectors split a queue; a message neither selects stays', async () => {
    broker = await startBroker({ port: 0 });
    const conn = await client();
    const greens = await conn.createReceiver('split', { selector: GREEN });
    const others = await conn.createReceiver('split', { selector: "colour <> 'green'" });
    const sender = await conn.createSender('split');
    const colours = ['green', 'red', 'blue', 'green', undefined, 'green', 'red', undefined];
    await sendColours(sender, colours);
    expect(await take(greens, 3)).toEqual(['green 1', 'green 4', 'green 6']);
    expect(await take(others, 3)).toEqual(['red 2', 'blue 3', 'red 7']);
    await expectNothing(greens, 200);
    await expectNothing(others, 200);
    // No colour: `colour <> 'green'` is unknown, so neither takes them.
    await expect.poll(() => broker!.queue('split')).toMatchObject({ depth: 2, inFlight: 0 });
    const plain = await conn.createReceiver('split');
    expect(await take(plain, 2)).toEqual(['none 5', 'none 8']);
  });

  it('a released message comes back to a selecting consumer before later ones', async () => {
    broker = await startBroker({ port: 0 });
    const conn = await client();
    const sender = await conn.createSender('again');
    await sendColours(sender, ['red', 'green', 'red', 'green']);
    // Credit by hand, so the release is back at the broker before the next credit (a refilled
    // window could otherwise take green 4 first, selectors or not).
    const greens = await conn.createReceiver('again', { selector: GREEN, credit: 0 });
    greens.addCredit(1);
    const first = await greens.receive({ timeout: 5000 });
    expect(first.message.body).toBe('green 2');
    first.release();
    await expect.poll(() => broker!.queue('again')).toMatchObject({ depth: 4, inFlight: 0 });
    greens.addCredit(2);
    expect(await take(greens, 2)).toEqual(['green 2', 'green 4']);
    await expect.poll(() => broker!.queue('again')).toMatchObject({ depth: 2, inFlight: 0 });
  });

  it('selects on JMS header names and typed application properties after a trip through the wire', async () => {
    broker = await startBroker({ port: 0 });
    const conn = await client();
    const sender = await conn.createSender('headers');
    await sender.send({ body: 'a', subject: 'order', priority: 9, applicationProperties: { amount: ulong(250) } });
    await sender.send({ body: 'b', subject: 'order', priority: 1, applicationProperties: { amount: ulong(250) } });
    await sender.send({ body: 'c', subject: 'invoice', priority: 9, applicationProperties: { amount: ulong(250) } });
    await sender.send({
      body: 'd',
      subject: 'order',
      priority: 9,
      durable: true,
      applicationProperties: { amount: 50n },
    });
    await sender.send({
      body: 'e',
      subject: 'order',
      priority: 9,
      creationTime: new Date(1_700_000_000_000),
      applicationProperties: { amount: 300 },
    });
    const r = await conn.createReceiver('headers', {
      selector:
        "JMSType = 'order' AND JMSPriority > 4 AND amount BETWEEN 100 AND 500 AND JMSDeliveryMode = 'NON_PERSISTENT'",
    });
    expect(await take(r, 2)).toEqual(['a', 'e']);
    await expectNothing(r);
    const byTime = await conn.createReceiver('headers', { selector: 'JMSTimestamp IS NULL AND JMSPriority = 9' });
    expect(await take(byTime, 2)).toEqual(['c', 'd']);
    await expectNothing(byTime);
  });
});

describe('selectors on browsers', () => {
  it('a browser (distribution mode copy) with a selector sees only the matching messages, and takes none', async () => {
    broker = await startBroker({ port: 0 });
    const conn = await client();
    const sender = await conn.createSender('shelf');
    await sendColours(sender, ['red', 'green', 'red', 'green']);
    const browser = await conn.createReceiver({
      source: { address: 'shelf', distributionMode: 'copy' },
      selector: GREEN,
    });
    expect(await take(browser, 2)).toEqual(['green 2', 'green 4']);
    await expectNothing(browser);
    // Browsed messages stay; later ones are browsed too, still only the green ones.
    await sendColours(sender, ['red', 'red', 'green']);
    expect(await take(browser, 1)).toEqual(['green 3']);
    await expectNothing(browser);
    expect(broker.queue('shelf')).toMatchObject({ depth: 7 });
    const consumer = await conn.createReceiver('shelf');
    expect(await take(consumer, 7)).toEqual(['red 1', 'green 2', 'red 3', 'green 4', 'red 1', 'red 2', 'green 3']);
  });
});

describe('selectors on topic subscriptions', () => {
  it('subscribers with different selectors each get only theirs; one without a selector gets all', async () => {
    broker = await startBroker({ port: 0 });
    const conn = await client();
    const greens = await conn.createReceiver('topic://paint', { selector: GREEN });
    const reds = await conn.createReceiver('topic://paint', { selector: "colour = 'red'" });
    const big = await conn.createReceiver('topic://paint', { selector: 'size > 2' });
    const all = await conn.createReceiver('topic://paint');
    const publisher = await (await client()).createSender('topic://paint');
    const sent = [
      { colour: 'green', size: 1 },
      { colour: 'red', size: 3 },
      { colour: 'blue', size: 5 },
      { colour: 'green', size: 4 },
      { colour: 'red', size: 2 },
    ];
    for (const [i, p] of sent.entries()) await publisher.send({ body: i + 1, applicationProperties: p });
    expect(await take(greens, 2)).toEqual([1, 4]);
    expect(await take(reds, 2)).toEqual([2, 5]);
    expect(await take(big, 3)).toEqual([2, 3, 4]);
    expect(await take(all, 5)).toEqual([1, 2, 3, 4, 5]);
    await Promise.all([expectNothing(greens), expectNothing(reds), expectNothing(big), expectNothing(all)]);
    // What a subscription does not select is never stored for it.
    await expect
      .poll(() =>
        broker!
          .queues()
          .filter((q) => q.address === 'topic://paint')
          .map((q) => q.depth + q.inFlight),
      )
      .toEqual([0, 0, 0, 0]);
  });

  it('a topic subscription by capability, with a selector as a raw source filter, is echoed and applied', async () => {
    broker = await startBroker({ port: 0 });
    const conn = await client();
    const filter = { mine: described(symbol(SELECTOR), "colour IN ('green', 'blue')") };
    const sub = await conn.createReceiver({ source: { address: 'news', capabilities: ['topic'], filter } });
    expect(Object.keys(sub.remoteSource?.filter ?? {})).toEqual(['mine']);
    const pub = await conn.createSender({ target: { address: 'news', capabilities: ['topic'] } });
    await sendColours(pub, ['red', 'blue', 'green', 'red']);
    expect(await take(sub, 2)).toEqual(['blue 2', 'green 3']);
    await expectNothing(sub);
  });
});

describe('the attach', () => {
  it('echoes the selector it applies', async () => {
    broker = await startBroker({ port: 0 });
    const r = await (await client()).createReceiver('echo', { selector: GREEN });
    const echoed = r.remoteSource?.filter?.['selector'];
    expect(echoed).toBeInstanceOf(Described);
    expect((echoed as Described).value).toBe(GREEN);
  });

  it('applies a selector filter with the numeric descriptor 0x0000468C00000004 and echoes it', async () => {
    broker = await startBroker({ port: 0 });
    const conn = await client();
    const filter = { sel: described(ulong(0x0000468c00000004n), GREEN) };
    const r = await conn.createReceiver({ source: { address: 'coded', filter } });
    expect(Object.keys(r.remoteSource?.filter ?? {})).toEqual(['sel']);
    await sendColours(await conn.createSender('coded'), ['red', 'green']);
    expect(await take(r, 1)).toEqual(['green 2']);
    await expectNothing(r);
  });

  it('refuses an invalid selector with amqp:invalid-field naming the problem; the connection goes on', async () => {
    broker = await startBroker({ port: 0 });
    const conn = await client();
    const e = await rejection(conn.createReceiver('bad', { selector: "colour = 'green" }));
    expect(e).toBeInstanceOf(LinkClosedError);
    const err = e as LinkClosedError;
    expect(err.condition).toBe('amqp:invalid-field');
    expect(err.byPeer).toBe(true);
    expect(`${err.description ?? ''} ${err.message}`).toMatch(/colour = 'green/);
    expect(`${err.description ?? ''} ${err.message}`).toMatch(/not closed/);
    expect(`${err.description ?? ''} ${err.message}`).toMatch(/character 10/);

    for (const [selector, says] of [
      ['x NOT 5', /BETWEEN, IN or LIKE/],
      ['x IN (1)', /IN takes string literals/],
      ['x > ', /the end/],
      ['x # 1', /"#"/],
    ] as const) {
      const e2 = await rejection(conn.createReceiver('bad', { selector }));
      expect(e2, selector).toBeInstanceOf(LinkClosedError);
      expect((e2 as LinkClosedError).condition, selector).toBe('amqp:invalid-field');
      expect(`${(e2 as LinkClosedError).description ?? ''} ${e2.message}`, selector).toMatch(says);
    }
    // A selector filter that is not a string is refused too.
    const e3 = await rejection(
      conn.createReceiver({ source: { address: 'bad', filter: { s: described(symbol(SELECTOR), 42) } } }),
    );
    expect((e3 as LinkClosedError).condition).toBe('amqp:invalid-field');
    expect(`${(e3 as LinkClosedError).description ?? ''} ${e3.message}`).toMatch(/string/);

    // Nothing was made of the refused links: no consumer on the queue; the connection still works.
    expect(broker.queue('bad')?.consumers ?? 0).toBe(0);
    const ok = await conn.createReceiver('bad', { selector: GREEN });
    await sendColours(await conn.createSender('bad'), ['red', 'green']);
    expect(await take(ok, 1)).toEqual(['green 2']);
  });

  it('refuses an invalid selector on a topic subscription too', async () => {
    broker = await startBroker({ port: 0 });
    const e = await rejection((await client()).createReceiver('topic://t', { selector: 'a = = 1' }));
    expect(e).toBeInstanceOf(LinkClosedError);
    expect((e as LinkClosedError).condition).toBe('amqp:invalid-field');
    expect(broker.queues().filter((q) => q.address === 'topic://t')).toEqual([]);
  });

  it('does not echo a filter it does not know, and applies none for it', async () => {
    broker = await startBroker({ port: 0 });
    const conn = await client();
    const noLocal = described(symbol('apache.org:no-local-filter'), []);
    const r = await conn.createReceiver({ source: { address: 'plain', filter: { 'no-local': noLocal } } });
    expect(r.remoteSource?.filter?.['no-local']).toBeUndefined();
    expect(Object.keys(r.remoteSource?.filter ?? {})).toEqual([]);
    // With a selector beside it: only the selector is echoed.
    const both = await conn.createReceiver({
      source: { address: 'plain', filter: { 'no-local': noLocal } },
      selector: GREEN,
    });
    expect(Object.keys(both.remoteSource?.filter ?? {})).toEqual(['selector']);
    // A filter entry that is not described at all is not echoed either.
    const odd = await conn.createReceiver({ source: { address: 'plain', filter: { junk: 'just a string' } } });
    expect(Object.keys(odd.remoteSource?.filter ?? {})).toEqual([]);
  });
});

describe('the client option', () => {
  it('against a listen() peer that accepts with plain acceptAsSender(): rejects, saying the peer does not apply the selector, and leaves no link open', async () => {
    listener = await listen({ port: 0 });
    const accepted: Sender[] = [];
    void (async () => {
      for await (const link of listener!) accepted.push(link.acceptAsSender());
    })();
    const conn = await client(listener.url);
    const e = await rejection(conn.createReceiver('anywhere', { selector: GREEN }));
    expect(e).toBeInstanceOf(LinkClosedError);
    expect(e.message).toMatch(/does not apply the selector/);
    expect(e.message).toContain(GREEN);
    expect(accepted).toHaveLength(1);
    // The peer's link was closed, and ours is gone.
    await expect.poll(() => accepted[0]!.isOpen).toBe(false);
    const session = await conn.defaultSession();
    expect(session.links.filter((l) => l.isOpen)).toEqual([]);
    // The connection is fine: a receiver without a selector opens.
    const plain = await conn.createReceiver('anywhere');
    expect(plain.isOpen).toBe(true);
  });

  it('against a listen() peer that echoes the filter it applies: resolves (the option sends the filter under "selector")', async () => {
    listener = await listen({ port: 0 });
    const seen: unknown[] = [];
    void (async () => {
      for await (const link of listener!) {
        seen.push(link.source?.filter);
        link.acceptAsSender({ filter: link.source?.filter });
      }
    })();
    const conn = await client(listener.url);
    const r = await conn.createReceiver('anywhere', { selector: GREEN });
    expect(r.isOpen).toBe(true);
    const sent = seen[0] as Record<string, AmqpValue>;
    expect(Object.keys(sent)).toEqual(['selector']);
    expect(sent['selector']).toBeInstanceOf(Described);
    const d = sent['selector'] as Described;
    expect(d.value).toBe(GREEN);
    const descriptor = d.descriptor as unknown;
    expect(typeof descriptor === 'string' ? descriptor : (descriptor as { value: unknown }).value).toBe(SELECTOR);
  });

  it('refuses bad selector option types with InvalidArgumentError, before attaching anything', async () => {
    broker = await startBroker({ port: 0 });
    const conn = await client();
    const session = await conn.defaultSession();
    const before = session.links.length;
    for (const selector of [5, null, '', '   ', { colour: 'green' }, ['a'], true] as unknown[]) {
      const e = await rejection(conn.createReceiver('typed', { selector: selector as string }));
      expect(e, JSON.stringify(selector)).toBeInstanceOf(InvalidArgumentError);
      expect(e.message).toMatch(/selector/);
    }
    expect(session.links.length).toBe(before);
    expect(broker.queue('typed')?.consumers ?? 0).toBe(0);
  });
});
