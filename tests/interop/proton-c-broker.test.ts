/**
 * Quark's engine and client API against Qpid Proton's C example broker, compiled from
 * /usr/share/proton/examples/c at test time (tests/support/proton-peers.ts), and against Proton's
 * Python client through that broker.
 *
 * The C broker forwards transfer bytes unchanged, so what a receiver gets is exactly what the
 * sender encoded. It grants publishers credit 5, accepts and settles each message, and sends to
 * subscribers pre-settled (see PEERS.md).
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  TimeoutError,
  array,
  byte,
  char,
  connect,
  decimal128,
  decimal32,
  decimal64,
  described,
  double,
  encodeMessage,
  float,
  long,
  short,
  symbol,
  timestamp,
  ubyte,
  uint,
  ulong,
  ushort,
  uuid,
  type AmqpValue,
  type Connection,
  type Delivery,
  type Message,
  type Receiver,
} from '../../src/index.js';
import { requirePythonProton, runPython, startProtonBroker, type ProtonBroker } from '../support/proton-peers.js';
import { typedTree } from '../support/typed-tree.js';

const PEER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'proton', 'broker_client.py');

const hexBytes = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'));
const text = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'utf8'));
const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

// ---- The corpus broker_client.py builds with Proton, value for value and type for type ----

const UUID = '6ba7b810-9dad-11d1-80b4-00c04fd430c8';
const POINT = symbol('com.example:point');

/** One value of every scalar AMQP type, keyed by type name. */
function scalars(): Record<string, AmqpValue> {
  return {
    null: null,
    boolean: true,
    ubyte: ubyte(200),
    ushort: ushort(60000),
    uint: uint(4000000000),
    ulong: ulong(18446744073709551615n),
    byte: byte(-100),
    short: short(-30000),
    int: -2000000000,
    long: long(-9007199254740993n),
    float: float(1.5),
    double: double(-0.1),
    decimal32: decimal32(hexBytes('22501234')),
    decimal64: decimal64(hexBytes('31c0000000003039')),
    decimal128: decimal128(hexBytes('303132333435363738393a3b3c3d3e3f')),
    char: char('\u{1F600}'),
    timestamp: timestamp(new Date(1700000000123)),
    uuid: uuid(UUID),
    binary: hexBytes('0001feff'),
    string: 'h\u00e9llo \u2713',
    symbol: symbol('sym.bol'),
  };
}

/** A map whose keys have seven different AMQP types. */
function mixedMap(): Map<AmqpValue, AmqpValue> {
  return new Map<AmqpValue, AmqpValue>([
    ['str', 1],
    [symbol('sym'), ulong(2)],
    [ulong(3), 'three'],
    [-4, true],
    [long(5), null],
    [text('bin'), float(-2.5)],
    [char('c'), [1, symbol('x')]],
  ]);
}

function protonCorpus(): Message[] {
  return [
    {
      messageId: ulong(12345678901234n), // a ulong id decodes (exactly) as a ulong
      correlationId: uuid(UUID),
      userId: text('quark'),
      to: 'to-somewhere',
      subject: 'all the types',
      replyTo: 'reply-here',
      contentType: 'application/x-quark',
      contentEncoding: 'identity',
      creationTime: new Date(1700000000500),
      groupId: 'group',
      groupSequence: 7,
      replyToGroupId: 'reply-group',
      durable: true,
      priority: 9,
      messageAnnotations: { 'x-opt-quark': symbol('annotated') },
      applicationProperties: scalars(),
      body: mixedMap(),
    },
    {
      messageId: 'string-id',
      body: [
        ...Object.values(scalars()),
        [1, 'two', symbol('three'), null],
        mixedMap(),
        array('int', [1, -2, 3]),
        array('symbol', ['a', 'b']),
        array('long', [1n, 2n], POINT),
        described(POINT, [1, 2]),
        described(ulong(0x77), 'numeric descriptor'),
      ] as AmqpValue[],
    },
    { messageId: uuid(UUID), body: Uint8Array.from([0x00, ...text('raw data section'), 0xff]) },
    {
      messageId: Uint8Array.of(1, 2),
      body: described(
        POINT,
        new Map<AmqpValue, AmqpValue>([
          ['x', 3],
          ['y', 4],
        ]),
      ),
    },
    { body: 'h\u00e9llo \u2713 \u{1F600}' },
  ];
}

/** Every field of `want` (a message) compared with `got`'s, types included. */
function expectSameFields(got: Message, want: Message, where: string): void {
  for (const [field, value] of Object.entries(want)) {
    const g = (got as Record<string, AmqpValue>)[field];
    expect(typedTree(g), `${where}.${field}`).toEqual(typedTree(value as AmqpValue));
  }
}

// ---- The broker and Quark connections ----

let broker: ProtonBroker;
const connections: Connection[] = [];

beforeAll(async () => {
  requirePythonProton();
  broker = await startProtonBroker();
});

afterEach(async () => {
  await Promise.all(connections.splice(0).map((c) => c.close()));
});

afterAll(async () => {
  await broker?.stop();
});

async function open(): Promise<Connection> {
  const c = await connect({ url: broker.url, timeout: 10_000, values: 'exact' }); // these tests check every AMQP type exactly
  connections.push(c);
  return c;
}

/** A queue name no other test uses (the broker makes queues on demand and keeps them). */
const queue = (what: string): string => `${what}-${randomUUID()}`;

async function take(receiver: Receiver, n: number): Promise<Delivery[]> {
  const out: Delivery[] = [];
  while (out.length < n) out.push(await receiver.receive({ timeout: 10_000 }));
  return out;
}

/** Fails unless no further message arrives within `ms`. */
async function expectNothingMore(receiver: Receiver, ms = 300): Promise<void> {
  const extra = await receiver.receive({ timeout: ms }).then(
    (d) => d,
    (e: unknown) => e,
  );
  expect(extra).toBeInstanceOf(TimeoutError);
}

describe("Quark through Proton's C broker", () => {
  it('5,000 messages sent at-least-once all arrive once each, in order, and every send resolves accepted', async () => {
    const N = 5000;
    const address = queue('bulk');
    const consumer = await open();
    const producer = await open();
    const receiver = await consumer.createReceiver({ source: address, credit: 500 });
    const sender = await producer.createSender({ target: address });
    const bodies: number[] = [];
    let presettled = 0;
    const consumed = (async () => {
      for await (const d of receiver) {
        if (d.remoteSettled) presettled++;
        bodies.push(d.message.body as number);
        if (bodies.length === N) return;
      }
    })();
    const outcomes = await Promise.all(Array.from({ length: N }, (_, i) => sender.send({ messageId: i, body: i })));
    await consumed;
    expect(outcomes.filter((o) => o?.kind === 'accepted')).toHaveLength(N);
    expect(bodies).toEqual(Array.from({ length: N }, (_, i) => i));
    expect(presettled).toBe(N); // The C broker sends to subscribers pre-settled.
    await expectNothingMore(receiver);
  });

  it('a sender given credit 5 by the broker keeps many sends in flight without losing one', async () => {
    const address = queue('credit');
    const c = await open();
    const sender = await c.createSender(address);
    // The broker's window is 5; 200 sends queue behind it and go out as credit returns.
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => sender.send({ body: i })));
    expect(results.every((r) => r?.kind === 'accepted')).toBe(true);
    expect(sender.credit).toBeLessThanOrEqual(5);
    const receiver = await c.createReceiver({ source: address, credit: 50 });
    const got = await take(receiver, 200);
    expect(got.map((d) => d.message.body)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    await expectNothingMore(receiver);
  });

  it('every AMQP type, in application properties and body, comes back with its type and value, byte for byte', async () => {
    const address = queue('types');
    const c = await open();
    const sender = await c.createSender(address);
    const messages: Message[] = [
      ...protonCorpus(),
      {
        durable: false,
        priority: 0,
        ttl: 60_000,
        firstAcquirer: true,
        deliveryCount: 3,
        deliveryAnnotations: { 'x-opt-hop': ulong(1) },
        messageAnnotations: { 'x-opt-map': mixedMap(), 'x-opt-array': array('uuid', [UUID]) },
        messageId: ulong(0n),
        absoluteExpiryTime: new Date(4102444800000),
        applicationProperties: { ...scalars(), empty: '', zero: 0, negLong: long(-1n), bigUlong: ulong(2n ** 63n) },
        body: [
          [...Object.values(scalars())],
          [array('double', [0.5, -1e300]), array('boolean', [true, false]), array('timestamp', [timestamp(0)])],
          [
            array('list', [[1], ['a']]),
            array('map', [new Map<AmqpValue, AmqpValue>([[1, 2]])]),
            array('binary', [text('b')]),
          ],
        ],
        bodyType: 'sequence',
        footer: { 'x-opt-footer': 'end' },
      },
      { body: [text('first data section'), new Uint8Array(0), text('third')], bodyType: 'data' },
      // Bigger than the broker's frames: a multi-frame transfer each way.
      {
        applicationProperties: { size: 300_000 },
        body: Uint8Array.from({ length: 300_000 }, (_, i) => (i * 7) & 0xff),
      },
    ];
    // The last message takes several frames both ways (Quark's default max frame is 256 KiB).
    expect(300_000).toBeGreaterThan(Math.min(Number(c.remoteOpen?.maxFrameSize ?? Infinity), 262_144));
    for (const m of messages) await sender.send(m);
    const receiver = await c.createReceiver({ source: address, credit: 20 });
    const got = await take(receiver, messages.length);
    got.forEach((d, i) => {
      // The broker forwards the transfer's bytes unchanged.
      expect(hex(d.payload), `message ${i} bytes`).toBe(hex(encodeMessage(messages[i]!)));
      expectSameFields(d.message, messages[i]!, `message ${i}`);
    });
    await expectNothingMore(receiver);
  });
});

describe("Quark and Proton's Python client, through the C broker", () => {
  it('what Quark sends, Proton receives with the same values and Python types (proton.ulong, symbol, char, timestamp...)', async () => {
    const address = queue('quark-to-proton');
    const c = await open();
    const sender = await c.createSender(address);
    for (const m of protonCorpus()) expect((await sender.send(m))?.kind).toBe('accepted');
    const run = await runPython(PEER, ['receive', broker.url, address]);
    const report = JSON.parse(run.stdout.trim().split('\n').pop() ?? '{}') as { received?: number; errors?: string[] };
    expect(report.errors, run.stderr).toEqual([]);
    expect(report.received).toBe(protonCorpus().length);
    expect(run.code, run.stderr).toBe(0);
  });

  it('what Proton sends, Quark receives with the same values and AMQP types', async () => {
    const address = queue('proton-to-quark');
    const run = await runPython(PEER, ['send', broker.url, address]);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ sent: protonCorpus().length });
    const c = await open();
    const receiver = await c.createReceiver({ source: address, credit: 10 });
    const want = protonCorpus();
    const got = await take(receiver, want.length);
    got.forEach((d, i) => expectSameFields(d.message, want[i]!, `message ${i}`));
    await expectNothingMore(receiver);
  });
});

describe("Quark's reconnect against Proton's C broker", () => {
  it('the broker is SIGKILLed mid-stream and started again on its port: the client reconnects by itself, its links attach again, and every message that was accepted or resent arrives', async () => {
    // A broker of this test's own: it is killed, and the suite's broker must stay up.
    let own = await startProtonBroker();
    const port = own.port;
    try {
      const c = await connect({ url: own.url, timeout: 10_000, reconnect: { initialDelay: 20, maxDelay: 200 } });
      connections.push(c);
      const q = queue('reconnect');
      const sender = await c.createSender(q, { inDoubt: 'resend' });
      const receiver = await c.createReceiver(q, { credit: 50 });
      const got = new Set<number>();
      let duplicates = 0;
      const consuming = (async () => {
        for await (const d of receiver) {
          const n = d.message.body as number;
          if (got.has(n)) duplicates++;
          got.add(n);
          if (!d.settled) d.accept();
          if (got.size === 400) return;
        }
      })();
      const sends: Promise<unknown>[] = [];
      for (let i = 0; i < 200; i++) sends.push(sender.send({ body: i }));
      await Promise.all(sends);
      const reconnected = new Promise<void>((resolve) =>
        c.events$.subscribe((e) => e.type === 'reconnected' && resolve()),
      );
      // The C broker keeps its queues in memory: wait until the first 200 are consumed, then kill it.
      while (got.size < 200) await new Promise((r) => setTimeout(r, 5));
      await own.kill();
      for (let i = 200; i < 400; i++) sends.push(sender.send({ body: i })); // made during the outage
      own = await startProtonBroker(port);
      await reconnected;
      await Promise.all(sends);
      await consuming;
      expect(got.size).toBe(400);
      expect(duplicates).toBe(0); // nothing was in doubt at the kill: nothing sent twice
    } finally {
      await own.stop();
    }
  });
});
