/**
 * Quark counterparts of Qpid Proton's Python examples helloworld_direct.py, server_direct.py,
 * selected_recv.py, sync_client.py, helloworld_blocking.py and recurring_timer.py
 * (samples/*.mjs): each runs as the README says, with plain `node` on the built package, prints
 * what the original prints and exits 0.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { connect, startBroker, type Broker } from '../../src/index.js';
import { killPrograms, startSample, type ProgramRun, type RunningProgram } from '../support/programs.js';

let broker: Broker | undefined;

afterEach(async () => {
  killPrograms();
  await broker?.close();
  broker = undefined;
});

afterAll(killPrograms);

const start = (sample: string, args: string[] = []): RunningProgram => startSample(sample, args, 15_000);
const run = (sample: string, args: string[] = []): Promise<ProgramRun> => start(sample, args).done;

const REQUESTS = [
  'Twas brillig, and the slithy toves',
  'Did gire and gymble in the wabe.',
  'All mimsy were the borogroves,',
  'And the mome raths outgrabe.',
];
const replies = REQUESTS.map((r) => `${r} => ${r.toUpperCase()}\n`).join('');

describe('Proton counterparts (a)', () => {
  it(
    'helloworld_direct.mjs sends "Hello World!" to itself with no broker and exits 0',
    { timeout: 15_000 },
    async () => {
      const r = await run('helloworld_direct.mjs');
      expect(r).toEqual({ code: 0, stdout: 'Hello World!\n', stderr: '' });
    },
  );

  it('helloworld_blocking.mjs alone (embedded broker) prints "Hello World!"', { timeout: 15_000 }, async () => {
    const r = await run('helloworld_blocking.mjs');
    expect(r).toEqual({ code: 0, stdout: 'Hello World!\n', stderr: '' });
  });

  it(
    'helloworld_blocking.mjs given a URL goes through the broker there and leaves nothing queued',
    { timeout: 15_000 },
    async () => {
      broker = await startBroker({ port: 0 });
      const r = await run('helloworld_blocking.mjs', [`${broker.url}/greetings`]);
      expect(r).toEqual({ code: 0, stdout: 'Hello World!\n', stderr: '' });
      await expect.poll(() => broker!.queue('greetings')).toMatchObject({ depth: 0, inFlight: 0 });
    },
  );

  it('selected_recv.mjs alone prints only the green messages of colour_send', { timeout: 15_000 }, async () => {
    const r = await run('selected_recv.mjs');
    expect(r).toEqual({ code: 0, stdout: 'green 1\ngreen 3\ngreen 5\ngreen 7\ngreen 9\n', stderr: '' });
  });

  it(
    'selected_recv.mjs given a URL takes only the green messages and leaves the red ones queued',
    { timeout: 15_000 },
    async () => {
      broker = await startBroker({ port: 0 });
      const conn = await connect(broker.url);
      const sender = await conn.createSender('colours');
      for (let n = 1; n <= 6; n++) {
        const colour = n % 2 ? 'green' : 'red';
        await sender.send({ applicationProperties: { colour }, body: `${colour} ${n}` });
      }
      await conn.close();
      const r = await run('selected_recv.mjs', [`${broker.url}/colours`, '--messages', '3']);
      expect(r).toEqual({ code: 0, stdout: 'green 1\ngreen 3\ngreen 5\n', stderr: '' });
      await expect.poll(() => broker!.queue('colours')).toMatchObject({ depth: 3, inFlight: 0 });
    },
  );

  it(
    'sync_client.mjs alone (embedded broker and responder) prints each request and its upper-cased reply',
    { timeout: 15_000 },
    async () => {
      const r = await run('sync_client.mjs');
      expect(r).toEqual({ code: 0, stdout: replies, stderr: '' });
    },
  );

  it(
    'server_direct.mjs answers sync_client.mjs peer to peer, then exits 0 with --count',
    { timeout: 15_000 },
    async () => {
      const server = start('server_direct.mjs', ['amqp://127.0.0.1:0', '--count', '4']);
      const [, url] = (await server.waitFor(/^Listening on (amqp:\/\/\S+)$/m)) as unknown as [string, string];
      const client = await run('sync_client.mjs', [`${url}/examples`]);
      expect(client).toEqual({ code: 0, stdout: replies, stderr: '' });
      const s = await server.done;
      expect(s.stderr).toBe('');
      expect(s.code).toBe(0);
      expect(s.stdout).toBe(`Listening on ${url}\n${REQUESTS.map((r) => `Received ${JSON.stringify(r)}\n`).join('')}`);
    },
  );

  it('recurring_timer.mjs ticks --ticks times, every --period ms, then exits 0', { timeout: 15_000 }, async () => {
    const began = Date.now();
    const r = await run('recurring_timer.mjs', ['--ticks', '3', '--period', '100']);
    expect(r).toEqual({ code: 0, stdout: 'Tick...\nTick...\nTick...\n', stderr: '' });
    expect(Date.now() - began).toBeGreaterThanOrEqual(300);
  });
});
