/**
 * The samples that mirror Qpid Proton's tutorial (samples/*.mjs) run as the README says, with
 * plain `node` on the built package, and do what they print: the messages simple_send sends are
 * exactly those simple_recv gets, the direct pair talks with no broker, the client gets the
 * server's upper-cased replies, and the browser leaves the queue as it was.
 *
 * The brokered runs use an embedded broker started here, shared by the sample processes, so the
 * test can also look into its queues.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { connect, startBroker, type Broker } from '../../src/index.js';
import { killPrograms, runSampleOk, startSample, type RunningProgram } from '../support/programs.js';

let broker: Broker | undefined;

afterEach(async () => {
  killPrograms();
  await broker?.close();
  broker = undefined;
});

afterAll(killPrograms);

const start = (sample: string, args: string[]): RunningProgram => startSample(sample, args, 40_000);

const run = (sample: string, args: string[]): Promise<string> => runSampleOk(sample, args);

const sequences = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => `{"sequence":${from + i}}`);

/** The lines of `output` that are message bodies (`{"sequence":N}`). */
const bodies = (output: string) => output.split('\n').filter((l) => l.startsWith('{"sequence"'));

describe('simple_send.mjs and simple_recv.mjs through a broker', () => {
  it('simple_recv receives exactly the N messages simple_send had confirmed, in order, and leaves the queue empty', async () => {
    broker = await startBroker({ port: 0 });
    const url = `${broker.url}/tutorial-queue`;
    const sent = await run('simple_send.mjs', [url, '--count', '250']);
    expect(sent).toContain(`sending 250 messages to tutorial-queue at ${broker.url}`);
    expect(sent).toContain('all messages confirmed (250)');
    expect(broker!.queue('tutorial-queue')).toMatchObject({ depth: 250, inFlight: 0 });

    const received = await run('simple_recv.mjs', [url, '--count', '250']);
    expect(bodies(received)).toEqual(sequences(1, 250));
    expect(received).toContain('received 250 messages');
    // The receiver accepted each message before closing: nothing goes back to the queue.
    await expect.poll(() => broker!.queue('tutorial-queue')).toMatchObject({ depth: 0, inFlight: 0 });
  });

  it('simple_recv takes only --count messages and the rest stay queued for the next receiver', async () => {
    broker = await startBroker({ port: 0 });
    const url = `${broker.url}/split`;
    await run('simple_send.mjs', [url, '--count', '30']);
    expect(bodies(await run('simple_recv.mjs', [url, '--count', '10']))).toEqual(sequences(1, 10));
    await expect.poll(() => broker!.queue('split')).toMatchObject({ depth: 20, inFlight: 0 });
    expect(bodies(await run('simple_recv.mjs', [url, '--count', '20']))).toEqual(sequences(11, 30));
  });

  it('simple_recv started first waits for simple_send, and both default to 100 messages', async () => {
    broker = await startBroker({ port: 0 });
    const url = `${broker.url}/examples`;
    const recv = start('simple_recv.mjs', [url]);
    await recv.waitFor(/receiving 100 messages/);
    await run('simple_send.mjs', [url]);
    const r = await recv.done;
    expect(r.code).toBe(0);
    expect(bodies(r.stdout)).toEqual(sequences(1, 100));
  });

  it('each runs alone with --embedded and exits 0', async () => {
    const sent = await run('simple_send.mjs', ['--embedded', '--count', '5']);
    expect(sent).toMatch(/started an embedded broker at amqp:\/\/127\.0\.0\.1:\d+/);
    expect(sent).toContain('all messages confirmed (5)');
    expect(sent).toContain('the embedded broker holds 5 messages in examples');
    const received = await run('simple_recv.mjs', ['--embedded', '--count', '5']);
    expect(bodies(received)).toEqual(sequences(1, 5));
    expect(received).toContain('received 5 messages');
  });

  it('a sample given an unreachable URL exits non-zero and says the connection was refused', async () => {
    const r = await start('simple_send.mjs', ['amqp://127.0.0.1:1/examples', '--count', '1']).done;
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/connection refused/);
  });
});

describe('direct_recv.mjs and direct_send.mjs, peer to peer with no broker', () => {
  it('direct_recv listens, direct_send connects to it, and every message arrives once, in order', async () => {
    const recv = start('direct_recv.mjs', ['amqp://127.0.0.1:0/direct', '--count', '150']);
    const [, url] = await recv.waitFor(/listening on (amqp:\/\/127\.0\.0\.1:\d+)\/direct/);
    const sent = await run('direct_send.mjs', [`${url!}/direct`, '--count', '150']);
    expect(sent).toContain('all messages confirmed (150)');
    const r = await recv.done;
    expect(r.code).toBe(0);
    expect(bodies(r.stdout)).toEqual(sequences(1, 150));
    expect(r.stdout).toContain('received 150 messages; stopped listening');
  });

  it('each runs alone with --embedded (the other side in the same process) and exits 0', async () => {
    const received = await run('direct_recv.mjs', ['--embedded', '--count', '7']);
    expect(bodies(received)).toEqual(sequences(1, 7));
    expect(received).toContain('(the embedded sender had all 7 messages confirmed)');
    const sent = await run('direct_send.mjs', ['--embedded', '--count', '7']);
    expect(sent).toContain('all messages confirmed (7)');
    expect(sent).toContain('(the embedded receiver got 7 messages and stopped listening)');
  });
});

describe('server.mjs and client.mjs: request/response with a dynamic reply-to', () => {
  const TUTORIAL = [
    'Twas brillig, and the slithy toves => TWAS BRILLIG, AND THE SLITHY TOVES',
    'Did gire and gymble in the wabe. => DID GIRE AND GYMBLE IN THE WABE.',
    'All mimsy were the borogroves, => ALL MIMSY WERE THE BOROGROVES,',
    'And the mome raths outgrabe. => AND THE MOME RATHS OUTGRABE.',
  ];

  it('the client prints the upper-cased reply to each of its requests, correlated, and the temporary queue goes away', async () => {
    broker = await startBroker({ port: 0 });
    const url = `${broker.url}/requests`;
    const server = start('server.mjs', [url, '--count', '4']);
    await server.waitFor(/serving requests from requests/);
    const out = await run('client.mjs', [url]);
    expect(out.split('\n').filter((l) => l.includes(' => '))).toEqual(TUTORIAL);
    const s = await server.done;
    expect(s.code).toBe(0);
    expect(s.stdout).toMatch(/received "Twas brillig, and the slithy toves", replying to temp-queue:\/\/\S+/);
    expect(s.stdout).toContain('answered 4 requests');
    await expect.poll(() => broker!.queues().filter((q) => q.address.startsWith('temp-queue://'))).toEqual([]);
    expect(broker!.queue('requests')).toMatchObject({ depth: 0, inFlight: 0 });
  });

  it('the client sends the requests given on its command line', async () => {
    broker = await startBroker({ port: 0 });
    const url = `${broker.url}/requests`;
    const server = start('server.mjs', [url, '--count', '2']);
    await server.waitFor(/serving requests/);
    const out = await run('client.mjs', [url, 'hello', 'wörld ß']);
    expect(out.split('\n').filter((l) => l.includes(' => '))).toEqual(['hello => HELLO', 'wörld ß => WÖRLD SS']);
    expect((await server.done).code).toBe(0);
  });

  it('requests sent before the server starts wait in the queue and are answered', async () => {
    broker = await startBroker({ port: 0 });
    const url = `${broker.url}/later`;
    const client = start('client.mjs', [url, 'early']);
    await client.waitFor(/sending 1 requests/);
    await expect.poll(() => broker!.queue('later')?.depth).toBe(1);
    const server = start('server.mjs', [url, '--count', '1']);
    const c = await client.done;
    expect(c.code).toBe(0);
    expect(c.stdout).toContain('early => EARLY');
    expect((await server.done).code).toBe(0);
  });

  it('each runs alone with --embedded and exits 0', async () => {
    const c = await run('client.mjs', ['--embedded']);
    expect(c.split('\n').filter((l) => l.includes(' => '))).toEqual(TUTORIAL);
    const s = await run('server.mjs', ['--embedded']);
    expect(s.split('\n').filter((l) => l.startsWith('(embedded client) '))).toEqual(
      TUTORIAL.map((l) => `(embedded client) ${l}`),
    );
    expect(s).toContain('answered 4 requests');
  });
});

describe('queue_browser.mjs (distribution mode copy)', () => {
  it('prints every message in the queue and leaves them all there', async () => {
    broker = await startBroker({ port: 0 });
    const conn = await connect(broker.url);
    try {
      const sender = await conn.createSender('shelf');
      for (let i = 1; i <= 120; i++) await sender.send({ messageId: i, body: `item ${i}` });
    } finally {
      await conn.close();
    }
    const out = await run('queue_browser.mjs', [`${broker.url}/shelf`]);
    const lines = out.split('\n').filter((l) => /^\d+: /.test(l));
    expect(lines).toEqual(Array.from({ length: 120 }, (_, i) => `${i + 1}: "item ${i + 1}"`));
    expect(out).toContain('browsed 120 messages');
    await expect.poll(() => broker!.queue('shelf')).toMatchObject({ depth: 120, inFlight: 0 });
    // A consumer still gets them all after browsing.
    const out2 = await run('simple_recv.mjs', [`${broker.url}/shelf`, '--count', '120']);
    expect(out2.split('\n').filter((l) => l.startsWith('"item '))).toHaveLength(120);
  });

  it('an empty queue browses as nothing, and the browser still exits', async () => {
    broker = await startBroker({ port: 0 });
    const out = await run('queue_browser.mjs', [`${broker.url}/empty`]);
    expect(out).toContain('browsed 0 messages');
  });

  it('runs alone with --embedded and exits 0', async () => {
    const out = await run('queue_browser.mjs', ['--embedded']);
    expect(out).toContain('1: "red"\n2: "green"\n3: "blue"\n');
    expect(out).toContain('the queue still holds 3 messages');
  });
});
