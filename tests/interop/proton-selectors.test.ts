/**
 * Selectors with Qpid Proton's own examples (issue #11): colour_send.py sends messages with a
 * `colour` property alternating green and red to the embedded broker; selected_recv.py attaches
 * with `Selector("colour = 'green'")` and prints the body of each message it gets. It must get
 * exactly the green ones (before #11 it printed red messages too), and the red ones must stay in
 * the broker.
 *
 * The programs are Proton's, unchanged, from /usr/share/proton/examples/python
 * (libqpid-proton11-dev-examples), run with Debian's /usr/bin/python3. A machine without them
 * fails this suite (it is never skipped).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { killPrograms, startProgram, type ProgramRun } from '../support/programs.js';
import { PYTHON, requirePythonProton } from '../support/proton-peers.js';
import { connect, startBroker, type Broker, type Connection } from '../../src/index.js';

const EXAMPLES = '/usr/share/proton/examples/python';
const COLOUR_SEND = path.join(EXAMPLES, 'colour_send.py');
const SELECTED_RECV = path.join(EXAMPLES, 'selected_recv.py');

let broker: Broker | undefined;
const conns: Connection[] = [];

beforeAll(() => {
  requirePythonProton(); // throws, saying what to install, when Proton's Python is missing
  for (const example of [COLOUR_SEND, SELECTED_RECV]) {
    if (!existsSync(example)) {
      throw new Error(
        `Proton's Python example ${example} is missing. Install it with \`apt-get install libqpid-proton11-dev-examples\`.${process.env.CI ? ' This is CI: interop suites must run here, they are never skipped.' : ''}`,
      );
    }
  }
});

afterEach(async () => {
  killPrograms();
  for (const c of conns.splice(0)) await c.close().catch(() => undefined);
  await broker?.close();
  broker = undefined;
});

/** Runs a Proton example to its end (killed after `timeoutMs`); rejects with its output unless it exits 0. */
async function example(program: string, args: string[], timeoutMs = 30_000): Promise<ProgramRun> {
  const run = await startProgram(PYTHON, [program, ...args], EXAMPLES, timeoutMs).done;
  if (run.code !== 0)
    throw new Error(
      `${path.basename(program)} ${args.join(' ')} exited ${String(run.code)}:\n${run.stdout}\n${run.stderr}`,
    );
  return run;
}

/** The non-empty lines a program printed. */
const lines = (stdout: string): string[] =>
  stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');

/** What colour_send.py sends as message n (1-based): odd ones green, even ones red. */
const body = (n: number): string => `${n % 2 === 1 ? 'green' : 'red'} ${n}`;

async function drain(address: string, n: number): Promise<unknown[]> {
  const conn = await connect(broker!.url);
  conns.push(conn);
  const r = await conn.createReceiver(address);
  const got: unknown[] = [];
  for (let i = 0; i < n; i++) {
    const d = await r.receive({ timeout: 5000 });
    got.push(d.message.body);
    d.accept();
  }
  return got;
}

describe("Proton's colour_send.py and selected_recv.py through the embedded broker", () => {
  it('selected_recv -m 5 prints exactly the 5 green messages of 10; the 5 red ones stay queued', async () => {
    broker = await startBroker({ port: 0 });
    const url = `${broker.url}/examples`;
    const sent = await example(COLOUR_SEND, ['-a', url, '-m', '10']);
    expect(lines(sent.stdout)).toEqual(['all messages confirmed']);
    expect(broker.queue('examples')).toMatchObject({ depth: 10, inFlight: 0 });

    const received = await example(SELECTED_RECV, ['-a', url, '-m', '5']);
    expect(lines(received.stdout)).toEqual(['green 1', 'green 3', 'green 5', 'green 7', 'green 9']);
    expect(received.stderr).toBe('');

    await expect.poll(() => broker!.queue('examples')).toMatchObject({ depth: 5, inFlight: 0 });
    // The ones left are the red ones, in order.
    expect(await drain('examples', 5)).toEqual(['red 2', 'red 4', 'red 6', 'red 8', 'red 10']);
    await expect.poll(() => broker!.queue('examples')).toMatchObject({ depth: 0, inFlight: 0 });
  });

  it('selected_recv started first, colour_send running alongside: 500 messages, the 250 green ones arrive in order, 250 red ones stay', async () => {
    broker = await startBroker({ port: 0 });
    const url = `${broker.url}/colours`;
    const receiving = example(SELECTED_RECV, ['-a', url, '-m', '250'], 50_000);
    // Let it attach before the first message goes out (it would get them from the queue anyway).
    await expect.poll(() => broker!.queue('colours')?.consumers ?? 0, { timeout: 15_000 }).toBe(1);
    const sent = await example(COLOUR_SEND, ['-a', url, '-m', '500'], 50_000);
    expect(lines(sent.stdout)).toEqual(['all messages confirmed']);
    const received = await receiving;
    expect(lines(received.stdout)).toEqual(Array.from({ length: 250 }, (_, i) => body(2 * i + 1)));
    await expect.poll(() => broker!.queue('colours')).toMatchObject({ depth: 250, inFlight: 0 });
    expect(await drain('colours', 250)).toEqual(Array.from({ length: 250 }, (_, i) => body(2 * i + 2)));
  });

  it('selected_recv against a queue of only red messages gets nothing (killed after waiting), and takes none', async () => {
    broker = await startBroker({ port: 0 });
    const url = `${broker.url}/reds`;
    const conn = await connect(broker.url);
    conns.push(conn);
    const sender = await conn.createSender('reds');
    for (let n = 1; n <= 3; n++) await sender.send({ body: `red ${n}`, applicationProperties: { colour: 'red' } });
    const waiting = startProgram(PYTHON, [SELECTED_RECV, '-a', url, '-m', '1'], EXAMPLES, 3000);
    await expect.poll(() => broker!.queue('reds')?.consumers ?? 0, { timeout: 2500 }).toBe(1);
    const run = await waiting.done;
    expect(run.code).not.toBe(0); // killed by the timeout: it never got a message
    expect(lines(run.stdout)).toEqual([]);
    await expect.poll(() => broker!.queue('reds')).toMatchObject({ depth: 3, inFlight: 0, consumers: 0 });
  });
});
