/**
 * Frame tracing (DEBUG=quark:frames): every frame sent and received is printed, credentials
 * redacted, and turning it on takes effect on a running connection.
 */
import { format } from 'node:util';
import createDebug from 'debug';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, startBroker, type Broker, type Connection } from '../../src/index.js';
import { frameLog } from '../../src/engine/frame-trace.js';

const lines: string[] = [];
const printed = frameLog as unknown as { log: (...args: unknown[]) => void };
const defaultLog = printed.log;
let previousNamespaces = '';
let broker: Broker | undefined;
let conn: Connection | undefined;

function traceFrames(): void {
  previousNamespaces = createDebug.disable();
  printed.log = (...args: unknown[]) => lines.push(format(...args));
  createDebug.enable('quark:frames');
}

afterEach(async () => {
  await conn?.close();
  await broker?.close();
  conn = undefined;
  broker = undefined;
  createDebug.disable();
  if (previousNamespaces) createDebug.enable(previousNamespaces);
  printed.log = defaultLog;
  lines.length = 0;
});

describe('frame tracing', () => {
  it('prints the frames of a connection both ways, with SASL credentials redacted', async () => {
    broker = await startBroker({ port: 0, users: { alice: 'secret-password' } });
    traceFrames();
    conn = await connect({ url: broker.url.replace('amqp://', 'amqp://alice:secret-password@'), reconnect: false });
    const sender = await conn.createSender('q');
    await sender.send({ body: 'traced' });
    const receiver = await conn.createReceiver('q');
    const delivery = await receiver.receive({ timeout: 2000 });
    delivery.accept();
    const text = lines.join('\n');
    // (The broker runs in this process: its frames are printed too.)
    for (const frame of ['-> [0] open', '<- [0] open', '] begin', '] attach', '] flow', '] disposition'])
      expect(text).toContain(frame);
    expect(text).toMatch(/ -> \[0\] transfer .*\(\d+ bytes of payload\)/);
    expect(text).toMatch(/ <- \[0\] transfer .*\(\d+ bytes of payload\)/);
    expect(text).toMatch(/sasl-init .*bytes redacted/);
    expect(text).not.toContain('secret-password');
  });

  it('takes effect on a connection already open, from its next read', async () => {
    broker = await startBroker({ port: 0 });
    conn = await connect({ url: broker.url, reconnect: false });
    const sender = await conn.createSender('q');
    const receiver = await conn.createReceiver('q');
    await sender.send({ body: 'before' });
    (await receiver.receive({ timeout: 2000 })).accept();
    expect(lines).toEqual([]);
    traceFrames();
    await sender.send({ body: 'after' });
    (await receiver.receive({ timeout: 2000 })).accept();
    const text = lines.join('\n');
    expect(text).toMatch(/ <- \[0\] transfer /);
    expect(text).toMatch(/ -> \[0\] transfer /);
  });
});
