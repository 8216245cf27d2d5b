/**
 * Native values with other AMQP implementations (issue #10), through Quark's embedded broker:
 * - rhea sends `{ price: 1.5, qty: 3 }` (a double and a uint on the wire) and a `Date.now()`
 *   application property (a ulong): a Quark receiver with default options reads plain numbers.
 * - Proton Python sends a dict (float, int, str, nested dict and list, proton.timestamp): Quark
 *   reads number, number, string, object, array, Date.
 * - Quark sends `{ id: 1, total: 9.99, at: new Date(), tags: ['a'] }`: Proton Python reads a dict
 *   of int, float, timestamp, list (the Python types it prints are checked), and rhea reads
 *   1, 9.99, a Date and ['a'].
 *
 * A machine without Python or Proton fails this suite (it is never skipped).
 */
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import rhea, {
  type Connection as RheaConnection,
  type ConnectionOptions,
  type EventContext,
  type Message as RheaMessage,
} from 'rhea';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { requirePythonProton, runPython } from '../support/proton-peers.js';
import {
  connect,
  decodeMessage,
  startBroker,
  typeOf,
  type AmqpValue,
  type Broker,
  type Connection,
} from '../../src/index.js';

const PEER = fileURLToPath(new URL('./proton/native_values_peer.py', import.meta.url));
const TIMEOUT = 60_000;
const TS = 1_700_000_000_123;

let broker: Broker | undefined;
const quarkConnections: Connection[] = [];
const rheaConnections = new Set<RheaConnection>();

beforeAll(() => {
  // Throws (failing the suite) when Debian's python3 or python3-qpid-proton is missing.
  requirePythonProton();
});

afterEach(async () => {
  for (const c of quarkConnections.splice(0)) await c.close().catch(() => undefined);
  await Promise.all(
    [...rheaConnections].map(async (c) => {
      if (!c.is_closed()) {
        const closed = Promise.race([once(c, 'connection_close'), once(c, 'disconnected')]);
        c.close();
        await closed;
      }
    }),
  );
  rheaConnections.clear();
  await broker?.close();
  broker = undefined;
});

async function quark(): Promise<Connection> {
  const c = await connect(broker!.url);
  quarkConnections.push(c);
  return c;
}

async function rheaClient(): Promise<RheaConnection> {
  const options: ConnectionOptions & { tcp_no_delay: boolean } = {
    host: '127.0.0.1',
    port: broker!.port,
    tcp_no_delay: true,
    reconnect: false,
    username: 'anonymous',
  };
  const c = rhea.create_container().connect(options);
  rheaConnections.add(c);
  await once(c, 'connection_open');
  return c;
}

/** Sends one message with rhea and waits for the broker to accept it. */
async function rheaSend(c: RheaConnection, address: string, message: RheaMessage): Promise<void> {
  const sender = c.open_sender(address);
  await once(sender, 'sendable');
  const settled = new Promise<void>((resolve, reject) => {
    sender.once('accepted', () => resolve());
    sender.once('rejected', (ctx: EventContext) =>
      reject(new Error(`rejected: ${JSON.stringify(ctx.delivery?.remote_state)}`)),
    );
    sender.once('released', () => reject(new Error('released')));
  });
  sender.send(message);
  await settled;
}

interface PythonValue {
  type: string;
  module: string;
  bases: string[];
  repr: string;
}
interface PythonReport {
  body: PythonValue;
  entries: Record<string, PythonValue & { key: PythonValue; items?: PythonValue[] }>;
}

describe('native values with rhea', () => {
  it(
    'what rhea sends as { price: 1.5, qty: 3 } and a Date.now() property reads as plain numbers',
    { timeout: TIMEOUT },
    async () => {
      broker = await startBroker({ port: 0 });
      const ts = Date.now();
      const r = await rheaClient();
      await rheaSend(r, 'prices', { body: { price: 1.5, qty: 3 }, application_properties: { price: 1.25, ts } });

      const receiver = await (await quark()).createReceiver('prices');
      const d = await receiver.receive({ timeout: 10_000 });
      const m = d.message;
      const body = m.body as { price: unknown; qty: unknown };
      expect(body.price === 1.5, `body.price is ${String(body.price)} (${typeof body.price})`).toBe(true);
      expect(body.qty === 3, `body.qty is ${String(body.qty)} (${typeof body.qty})`).toBe(true);
      expect((body.price as number) * 2 + (body.qty as number)).toBe(6);
      expect(JSON.stringify(m.body)).toBe('{"price":1.5,"qty":3}');
      expect(JSON.stringify(m.applicationProperties)).toBe(`{"price":1.25,"ts":${ts}}`);
      expect(m.applicationProperties!.ts === ts).toBe(true);

      // What rhea put on the wire: a double, a uint and a ulong, which native reading turned into numbers.
      const exact = decodeMessage(d.payload, { values: 'exact' });
      const exactBody = exact.body as Map<AmqpValue, AmqpValue>;
      expect([...exactBody].map(([k, v]) => [k, typeOf(v)])).toEqual([
        ['price', 'double'],
        ['qty', 'uint'],
      ]);
      expect(typeOf(exact.applicationProperties!.ts)).toBe('ulong');
      d.accept();
    },
  );

  it("what Quark sends as native values, rhea reads as 1, 9.99, a Date and ['a']", { timeout: TIMEOUT }, async () => {
    broker = await startBroker({ port: 0 });
    const sender = await (await quark()).createSender('orders');
    expect((await sender.send({ body: { id: 1, total: 9.99, at: new Date(TS), tags: ['a'] } }))?.kind).toBe('accepted');
    const r = await rheaClient();
    const receiver = r.open_receiver({ source: 'orders', autoaccept: true });
    const [ctx] = (await once(receiver, 'message')) as [EventContext];
    const body = ctx.message!.body as { id: unknown; total: unknown; at: unknown; tags: unknown };
    expect(body.id).toBe(1);
    expect(body.total).toBe(9.99);
    expect(body.at).toBeInstanceOf(Date);
    expect((body.at as Date).getTime()).toBe(TS);
    expect(body.tags).toEqual(['a']);
  });
});

describe('native values with Proton Python', () => {
  it(
    'what Proton sends (float, int, str, nested dict and list, timestamp) reads as number, number, string, object, array, Date',
    { timeout: TIMEOUT },
    async () => {
      broker = await startBroker({ port: 0 });
      const run = await runPython(PEER, ['send', broker.url, 'from-python']);
      expect(run.code, run.stderr).toBe(0);
      expect(JSON.parse(run.stdout.trim())).toEqual({ sent: 1 });

      const receiver = await (await quark()).createReceiver('from-python');
      const d = await receiver.receive({ timeout: 10_000 });
      const body = d.message.body as Record<string, unknown>;
      expect(Object.getPrototypeOf(body)).toBe(Object.prototype);
      expect(Object.keys(body).sort()).toEqual(['at', 'name', 'nested', 'price', 'qty', 'tags']);
      expect(typeof body.price).toBe('number');
      expect(body.price).toBe(1.5);
      expect(typeof body.qty).toBe('number');
      expect(body.qty).toBe(3);
      expect(body.name).toBe('widget');
      expect(Object.getPrototypeOf(body.nested)).toBe(Object.prototype);
      expect(body.nested).toEqual({ a: 1, b: [2, 'two', 2.5] });
      expect(Array.isArray(body.tags)).toBe(true);
      expect(body.tags).toEqual(['x', 'y']);
      expect(body.at).toBeInstanceOf(Date);
      expect((body.at as Date).getTime()).toBe(TS);
      expect(JSON.parse(JSON.stringify(body))).toEqual({
        price: 1.5,
        qty: 3,
        name: 'widget',
        nested: { a: 1, b: [2, 'two', 2.5] },
        tags: ['x', 'y'],
        at: new Date(TS).toISOString(),
      });

      const props = d.message.applicationProperties!;
      expect(props.price).toBe(1.25);
      expect(props.count).toBe(7);
      expect(props.at).toBeInstanceOf(Date);
      expect(JSON.stringify(props)).toBe(`{"price":1.25,"count":7,"at":"${new Date(TS).toISOString()}"}`);

      // What Proton put on the wire (so the test knows what it converted): double, long, timestamp.
      const exact = decodeMessage(d.payload, { values: 'exact' }).body as Map<AmqpValue, AmqpValue>;
      expect(typeOf(exact.get('price'))).toBe('double');
      expect(typeOf(exact.get('qty'))).toBe('long');
      expect(typeOf(exact.get('at'))).toBe('timestamp');
      d.accept();
    },
  );

  it(
    'what Quark sends as native values, Proton reads as a dict of int, float, timestamp and list',
    { timeout: TIMEOUT },
    async () => {
      broker = await startBroker({ port: 0 });
      const sender = await (await quark()).createSender('to-python');
      const at = new Date(TS);
      expect((await sender.send({ body: { id: 1, total: 9.99, at, tags: ['a'] } }))?.kind).toBe('accepted');

      const run = await runPython(PEER, ['receive', broker.url, 'to-python']);
      expect(run.code, run.stderr).toBe(0);
      const report = JSON.parse(run.stdout.trim().split('\n').pop()!) as PythonReport;
      expect(report.body.type).toBe('dict');
      expect(Object.keys(report.entries).sort()).toEqual(['at', 'id', 'tags', 'total']);
      for (const e of Object.values(report.entries)) expect(e.key.type, 'keys are Python str').toBe('str');

      const { id, total, at: pyAt, tags } = report.entries as Required<PythonReport['entries']>;
      // An AMQP int: Proton gives proton.int32, a subclass of int.
      expect(id!.bases, id!.repr).toContain('int');
      expect(id!.bases).not.toContain('bool');
      expect(id!.repr).toMatch(/^(int32\()?1\)?$/);
      expect(total!.type).toBe('float');
      expect(total!.repr).toBe('9.99');
      // A timestamp: proton.timestamp (an int of milliseconds) or a datetime.
      expect(['timestamp', 'datetime'], pyAt!.repr).toContain(pyAt!.type);
      expect(pyAt!.repr).toContain(String(TS));
      expect(tags!.type).toBe('list');
      expect(tags!.items?.map((x) => [x.type, x.repr])).toEqual([['str', "'a'"]]);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(broker.queue('to-python')).toMatchObject({ depth: 0, inFlight: 0 });
    },
  );
});
