/**
 * Qpid Proton's tutorial programs against Quark's embedded broker: simple_send, simple_recv and
 * the client/server request-response pair (tests/interop/proton/tutorial_*.py, run with Debian's
 * /usr/bin/python3), at-least-once, thousands of messages, carrying one value of every AMQP type in
 * the application properties and the body (tests/interop/proton/tutorial_types.py).
 *
 * Proton checks the Python types of what it receives (a proton.ulong stays a ulong, a symbol a
 * symbol); Quark checks the exact AMQP types and JavaScript shapes of what it receives from Proton.
 * The broker forwards the producers' bytes, so this also proves it hands them on untouched.
 *
 * A machine without Python or Proton fails this suite (it is never skipped).
 */
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { killPrograms, startProgram } from '../support/programs.js';
import { PYTHON, requirePythonProton } from '../support/proton-peers.js';
import {
  AmqpArray,
  Described,
  Typed,
  array,
  byte,
  char,
  connect,
  decimal128,
  decimal32,
  decimal64,
  described,
  double,
  float,
  short,
  startBroker,
  symbol,
  typeOf,
  ubyte,
  uint,
  ulong,
  ushort,
  uuid,
  type AmqpValue,
  type Broker,
  type Connection,
  type Message,
} from '../../src/index.js';

const PROTON_DIR = fileURLToPath(new URL('./proton/', import.meta.url));
const N = 3000;

// ---- The corpus, as tutorial_types.py builds it ----

const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));

function values(seq: number): Record<string, AmqpValue> {
  return {
    seq: BigInt(seq),
    null: null,
    bool: true,
    ubyte: ubyte(255),
    ushort: ushort(65535),
    uint: uint(4294967295),
    ulong: ulong(18446744073709551615n),
    byte: byte(-128),
    short: short(-32768),
    int: -2147483648,
    long: -9223372036854775808n,
    float: float(1.5),
    double: double(-2.25),
    decimal32: decimal32(hex('22500001')),
    decimal64: decimal64(hex('2238000000000001')),
    decimal128: decimal128(Uint8Array.from({ length: 16 }, (_, i) => i)),
    char: char('\u20ac'),
    timestamp: new Date(1700000000123),
    uuid: uuid('6ba7b810-9dad-11d1-80b4-00c04fd430c8'),
    binary: Uint8Array.of(0x00, 0x01, 0xfe, 0xff),
    string: 'h\u00e9llo \u2713 \u{1f600}',
    symbol: symbol('quark:sym'),
  };
}

function body(seq: number, text?: string): Map<AmqpValue, AmqpValue> {
  return new Map<AmqpValue, AmqpValue>([
    ['sequence', BigInt(seq)],
    ['text', text ?? `message ${seq} h\u00e9llo`],
    ['values', values(seq)],
    ['list', [1n, 'two', null, [ubyte(3), symbol('four')], { five: 5n }]],
    [
      'map',
      new Map<AmqpValue, AmqpValue>([
        [symbol('sym-key'), ulong(1)],
        [7n, 'a long key'],
        ['nested', { deep: [true, false] }],
      ]),
    ],
    ['int-array', array('int', [1, 2, 3])],
    ['symbol-array', array('symbol', ['a', 'b'])],
    ['described', described(symbol('quark:test'), 'described value')],
    ['empty-list', []],
    ['empty-map', new Map()],
  ]);
}

function corpusMessage(seq: number): Message {
  return { messageId: BigInt(seq), subject: 'tutorial', applicationProperties: values(seq), body: body(seq) };
}

/**
 * A value as a tree naming its exact AMQP type and JavaScript shape at every node (a Typed double
 * and a plain number differ; map entries are sorted by key so only content counts).
 */
function typedTree(v: AmqpValue | undefined): unknown {
  if (v instanceof Typed) {
    const x: unknown = v.value;
    return [
      `Typed:${v.type}`,
      x instanceof Uint8Array
        ? Buffer.from(x).toString('hex')
        : typeof x === 'bigint'
          ? `${x}n`
          : Object.is(x, -0)
            ? '-0'
            : x,
    ];
  }
  if (v instanceof AmqpArray)
    return ['array', v.type, v.descriptor === undefined ? null : typedTree(v.descriptor), v.elements.map(typedTree)];
  if (v instanceof Described) return ['described', typedTree(v.descriptor), typedTree(v.value)];
  if (v instanceof Date) return ['timestamp:Date', v.getTime()];
  if (v instanceof Uint8Array) return ['binary', Buffer.from(v).toString('hex')];
  if (Array.isArray(v)) return ['list', v.map(typedTree)];
  if (v instanceof Map || (typeof v === 'object' && v !== null)) {
    const entries = v instanceof Map ? [...v.entries()] : Object.entries(v as Record<string, AmqpValue>);
    const pairs = entries.map(([k, x]) => [typedTree(k), typedTree(x)]);
    return ['map', pairs.sort((a, b) => (JSON.stringify(a[0]) < JSON.stringify(b[0]) ? -1 : 1))];
  }
  if (typeof v === 'bigint') return [typeOf(v), `${v}n`];
  return [typeOf(v), v ?? null];
}

/** Checks a message Proton sent (the corpus) by exact type; returns what differs. */
function checkCorpus(message: Message, seq: number, text?: string): string[] {
  const errors: string[] = [];
  if (!(
    message.messageId instanceof Typed &&
    message.messageId.type === 'ulong' &&
    message.messageId.value === BigInt(seq)
  ))
    errors.push(
      `messageId: expected the ulong ${seq}n, got ${String(message.messageId)} (${typeof message.messageId})`,
    );
  if (message.subject !== 'tutorial') errors.push(`subject: got ${String(message.subject)}`);
  const got = {
    properties: typedTree(message.applicationProperties),
    body: typedTree(message.body),
    bodyType: message.bodyType,
  };
  const want = { properties: typedTree(values(seq)), body: typedTree(body(seq, text)), bodyType: 'value' };
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    errors.push(`message ${seq} differs:\n${JSON.stringify(got)}\nexpected\n${JSON.stringify(want)}`);
  }
  return errors;
}

// ---- Running Proton's programs ----

const conns: Connection[] = [];
let broker: Broker | undefined;

afterEach(async () => {
  killPrograms();
  for (const c of conns.splice(0)) await c.close().catch(() => undefined);
  await broker?.close();
  broker = undefined;
});

beforeAll(() => {
  requirePythonProton(); // fails, saying what to install, when Proton is missing (never a skip)
});

interface Report {
  [key: string]: unknown;
  errors: string[];
}

/** Runs one of the tutorial programs; resolves with its JSON report (rejects with its output when it fails). */
function proton(program: string, args: string[]): Promise<Report> {
  return startProgram(PYTHON, [`${PROTON_DIR}${program}`, ...args], PROTON_DIR, 50_000).done.then(
    ({ code, stdout, stderr }) => {
      const last = stdout.trim().split('\n').pop() ?? '';
      let report: Report | undefined;
      try {
        report = JSON.parse(last) as Report;
      } catch {
        report = undefined;
      }
      if (code === 0 && report) return report;
      throw new Error(`${program} ${args.join(' ')} exited ${String(code)}:\n${stdout}\n${stderr}`);
    },
  );
}

async function client(): Promise<Connection> {
  const c = await connect({ url: broker!.url, values: 'exact' }); // these tests check every AMQP type exactly
  conns.push(c);
  return c;
}

describe('Qpid Proton tutorial programs through the embedded broker', () => {
  it(`Proton simple_send -> broker -> Quark: ${N} messages arrive once, in order, every AMQP type exact`, async () => {
    broker = await startBroker({ port: 0 });
    const receiver = await (await client()).createReceiver('from-proton');
    const sending = proton('tutorial_simple_send.py', ['-a', `${broker.url}/from-proton`, '-m', String(N)]);
    const errors: string[] = [];
    for (let seq = 1; seq <= N; seq++) {
      const d = await receiver.receive({ timeout: 30_000 });
      if (errors.length < 5) errors.push(...checkCorpus(d.message, seq));
      d.accept();
    }
    expect(errors).toEqual([]);
    expect(await sending).toEqual({ sent: N, confirmed: N, errors: [] });
    await expect.poll(() => broker!.queue('from-proton')).toMatchObject({ depth: 0, inFlight: 0 });
  });

  it(`Quark -> broker -> Proton simple_recv: ${N} messages arrive once, in order, with their Python types`, async () => {
    broker = await startBroker({ port: 0 });
    const receiving = proton('tutorial_simple_recv.py', ['-a', `${broker.url}/to-proton`, '-m', String(N)]);
    const sender = await (await client()).createSender('to-proton');
    function* messages() {
      for (let seq = 1; seq <= N; seq++) yield corpusMessage(seq);
    }
    expect(await sender.sendAll(messages())).toBe(N);
    expect(await receiving).toEqual({ received: N, duplicates: 0, in_order: true, first: 1, last: N, errors: [] });
    await expect.poll(() => broker!.queue('to-proton')).toMatchObject({ depth: 0, inFlight: 0 });
  });

  it(`Proton simple_send and simple_recv, the tutorial pair, run concurrently: ${N} messages, none lost or duplicated`, async () => {
    broker = await startBroker({ port: 0 });
    const url = `${broker.url}/examples`;
    const receiving = proton('tutorial_simple_recv.py', ['-a', url, '-m', String(N), '-p', '50']);
    const sending = proton('tutorial_simple_send.py', ['-a', url, '-m', String(N)]);
    expect(await sending).toEqual({ sent: N, confirmed: N, errors: [] });
    expect(await receiving).toEqual({ received: N, duplicates: 0, in_order: true, first: 1, last: N, errors: [] });
    await expect.poll(() => broker!.queue('examples')).toMatchObject({ depth: 0, inFlight: 0 });
  });

  it('Proton simple_recv started after the messages were sent gets them all from the queue', async () => {
    broker = await startBroker({ port: 0 });
    const url = `${broker.url}/stored`;
    expect(await proton('tutorial_simple_send.py', ['-a', url, '-m', '500'])).toEqual({
      sent: 500,
      confirmed: 500,
      errors: [],
    });
    expect(broker!.queue('stored')).toMatchObject({ depth: 500, inFlight: 0 });
    expect(await proton('tutorial_simple_recv.py', ['-a', url, '-m', '500'])).toMatchObject({
      received: 500,
      duplicates: 0,
      in_order: true,
      errors: [],
    });
    await expect.poll(() => broker!.queue('stored')).toMatchObject({ depth: 0, inFlight: 0 });
  });

  it(`Proton client and server: ${N} requests answered through a dynamic reply-to, correlated, types intact both ways`, async () => {
    broker = await startBroker({ port: 0 });
    const url = `${broker.url}/requests`;
    const serving = proton('tutorial_server.py', ['-a', url, '-m', String(N)]);
    const report = await proton('tutorial_client.py', ['-a', url, '-m', String(N), '-w', '50']);
    expect(report).toMatchObject({ sent: N, replies: N, errors: [] });
    expect(report.reply_to).toMatch(/^temp-queue:\/\//);
    expect(await serving).toEqual({ answered: N, confirmed: N, errors: [] });
    // The client's temporary queue went with its link.
    await expect.poll(() => broker!.queues().filter((q) => q.address.startsWith('temp-queue://'))).toEqual([]);
    expect(broker!.queue('requests')).toMatchObject({ depth: 0, inFlight: 0 });
  });

  it('Proton client, one request at a time as in the tutorial, against the Proton server', async () => {
    broker = await startBroker({ port: 0 });
    const url = `${broker.url}/one-by-one`;
    const serving = proton('tutorial_server.py', ['-a', url, '-m', '200']);
    expect(await proton('tutorial_client.py', ['-a', url, '-m', '200', '-w', '1'])).toMatchObject({
      sent: 200,
      replies: 200,
      errors: [],
    });
    expect(await serving).toMatchObject({ answered: 200, confirmed: 200, errors: [] });
  });

  it('a Quark server answers the Proton client: Quark sees the request types exactly, Proton the reply types', async () => {
    broker = await startBroker({ port: 0 });
    const url = `${broker.url}/quark-service`;
    const conn = await client();
    const requests = await conn.createReceiver('quark-service');
    const replies = await conn.createSender(null);
    const clientRun = proton('tutorial_client.py', ['-a', url, '-m', '500', '-w', '20']);
    const errors: string[] = [];
    for (let i = 0; i < 500; i++) {
      const d = await requests.receive({ timeout: 30_000 });
      const m = d.message;
      const seq = Number(m.messageId);
      if (errors.length < 5) errors.push(...checkCorpus(m, seq, `request ${seq}`));
      expect(m.correlationId).toBe(`corr-${seq}`);
      const replyBody = new Map(m.body as Map<AmqpValue, AmqpValue>);
      replyBody.set('text', `REQUEST ${seq}`);
      // The reply forwards what Proton sent, decoded and encoded again by Quark.
      await replies.send({
        to: m.replyTo,
        correlationId: m.correlationId,
        messageId: m.messageId,
        subject: m.subject,
        applicationProperties: m.applicationProperties,
        body: replyBody,
      });
      d.accept();
    }
    expect(errors).toEqual([]);
    expect(await clientRun).toMatchObject({ sent: 500, replies: 500, errors: [] });
  });
});
