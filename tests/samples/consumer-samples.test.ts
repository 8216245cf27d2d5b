/**
 * The consumer samples (samples/for-await-receiver.mjs, subscribe-consumer.mjs, rx-pipeline.mjs)
 * run as their headers say, with plain `node` on the build in dist/: alone (an embedded broker in
 * the sample's process) or against a broker started here, so that the test can look into its
 * queues afterwards. Each must print what it did, exit 0, and stop cleanly when interrupted.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startBroker, type Broker } from '../../src/index.js';
import { killPrograms, runSampleOk, startSample, type ProgramRun, type RunningProgram } from '../support/programs.js';

let broker: Broker | undefined;

afterEach(async () => {
  killPrograms();
  await broker?.close();
  broker = undefined;
});

afterAll(killPrograms);

const start = (sample: string, args: string[]): RunningProgram => startSample(sample, args, 30_000);

const run = (sample: string, args: string[]): Promise<string> => runSampleOk(sample, args, 30_000);

/** Interrupts a running sample (Ctrl-C) once it has printed `pattern`; resolves with how it ended. */
async function interrupt(program: RunningProgram, pattern: RegExp): Promise<ProgramRun> {
  await program.waitFor(pattern);
  program.child.kill('SIGINT');
  return program.done;
}

const lines = (output: string, pattern: RegExp) => output.split('\n').filter((l) => pattern.test(l));

describe('for-await-receiver.mjs: a for-await loop over receiver.deliveries({ signal })', () => {
  it('alone, sends N orders to an embedded broker, handles and accepts each, and stops once all are handled', async () => {
    const out = await run('for-await-receiver.mjs', ['--count', '5']);
    expect(out).toMatch(/^started an embedded broker at amqp:\/\/127\.0\.0\.1:\d+$/m);
    expect(out).toContain('sent 5 orders to orders');
    // Native values: the body is a plain object, so JSON shows it as sent.
    expect(lines(out, /^handled order/)).toEqual(
      [1, 2, 3, 4, 5].map((id) => `handled order {"id":${id},"total":${id * 2.5}}`),
    );
    expect(out).toContain('stopped (all 5 orders handled) after 5 orders; 0 prefetched orders go back to the queue');
  });

  it('Ctrl-C ends the loop cleanly (exit 0): what it handled is accepted, the rest stays queued', async () => {
    broker = await startBroker({ port: 0 });
    const program = start('for-await-receiver.mjs', [`${broker.url}/work`, '--count', '200']);
    const { code, stdout, stderr } = await interrupt(program, /handled order \{"id":3,/);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).not.toContain('started an embedded broker');
    const stopped = /stopped \(interrupted\) after (\d+) orders; (\d+) prefetched orders go back to the queue/.exec(
      stdout,
    );
    expect(stopped).not.toBeNull();
    const handled = Number(stopped![1]);
    expect(handled).toBeGreaterThanOrEqual(3);
    expect(handled).toBeLessThan(200);
    expect(lines(stdout, /^handled order/)).toHaveLength(handled);
    // The prefetched orders went back with the receiver: nothing in flight, the rest queued.
    await expect.poll(() => broker!.queue('work')).toMatchObject({ depth: 200 - handled, inFlight: 0 });
  });

  it('a timeout (--timeout) ends the loop cleanly too', async () => {
    const out = await run('for-await-receiver.mjs', ['--count', '200', '--timeout', '0.3']);
    expect(out).toMatch(/stopped \(timed out after 0\.3 s\) after \d+ orders/);
  });
});

describe('subscribe-consumer.mjs: receiver.subscribe() with concurrency and onError', () => {
  it('alone, processes every order with at most --concurrency handlers, retries failures and rejects after three attempts', async () => {
    const out = await run('subscribe-consumer.mjs', ['--count', '20', '--concurrency', '4']);
    expect(out).toContain('sent 20 orders to orders');
    for (let id = 1; id <= 20; id++) {
      if (id % 10 === 0) continue;
      expect(lines(out, new RegExp(`^order ${id} processed`))).toEqual([
        `order ${id} processed (attempt ${id % 7 === 0 ? 2 : 1})`,
      ]);
    }
    // Every 7th order fails once and succeeds when delivered again; every 10th is rejected on its third attempt.
    expect(out).toContain('order 7 failed (attempt 1): given back to be retried');
    expect(out).toContain('order 14 failed (attempt 1): given back to be retried');
    for (const id of [10, 20]) {
      expect(lines(out, new RegExp(`^order ${id} failed`))).toEqual([
        `order ${id} failed (attempt 1): given back to be retried`,
        `order ${id} failed (attempt 2): given back to be retried`,
        `order ${id} failed (attempt 3): rejected`,
      ]);
    }
    const summary =
      /stopped \(all 20 orders settled\): 18 accepted, 2 rejected; at most (\d+) handlers ran at once \(concurrency 4\)/.exec(
        out,
      );
    expect(summary).not.toBeNull();
    expect(Number(summary![1])).toBeGreaterThanOrEqual(2);
    expect(Number(summary![1])).toBeLessThanOrEqual(4);
    expect(out).toContain('dead-letter queue DLQ holds 2 rejected orders');
  });

  it('Ctrl-C stops taking messages, lets the running handlers finish, and exits 0; the rest stays queued', async () => {
    broker = await startBroker({ port: 0 });
    const program = start('subscribe-consumer.mjs', [`${broker.url}/jobs`, '--count', '200', '--concurrency', '2']);
    const { code, stdout, stderr } = await interrupt(program, /order 3 processed/);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const summary =
      /stopped \(interrupted\): (\d+) accepted, (\d+) rejected; at most (\d+) handlers ran at once \(concurrency 2\)/.exec(
        stdout,
      );
    expect(summary).not.toBeNull();
    const [accepted, rejected, most] = summary!.slice(1).map(Number) as [number, number, number];
    expect(accepted).toBeGreaterThanOrEqual(3);
    expect(most).toBeLessThanOrEqual(2);
    expect(lines(stdout, /processed/)).toHaveLength(accepted);
    expect(stdout).not.toContain('dead-letter queue'); // that line is the embedded broker's
    // Rejected orders are dropped by a broker without a dead-letter address; the others are queued again.
    await expect.poll(() => broker!.queue('jobs')).toMatchObject({ depth: 200 - accepted - rejected, inFlight: 0 });
  });

  it('refuses a wrong --concurrency with exit code 2', async () => {
    const { code, stdout, stderr } = await start('subscribe-consumer.mjs', ['--concurrency', '0']).done;
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/--concurrency must be a whole number/);
  });
});

describe('rx-pipeline.mjs: deliveries$() with maxUnsettled, filter, map, forwardTo()', () => {
  it('alone, forwards each order as an invoice, drops test orders, accepts each order after its invoice, and holds at most maxUnsettled', async () => {
    const out = await run('rx-pipeline.mjs', []);
    expect(out).toContain('sent 20 orders to orders');
    const forwarded = lines(out, /invoice of/);
    expect(forwarded).toHaveLength(16);
    for (const id of [1, 2, 3, 4, 6, 19])
      expect(forwarded).toContain(`order ${id}: invoice of ${id * 12} accepted downstream; order accepted`);
    expect(out).not.toMatch(/order (5|10|15|20):/);
    const summary =
      /forwarded 16 invoices, dropped 4 test orders; at most (\d+) orders were unsettled at once \(maxUnsettled 5\)/.exec(
        out,
      );
    expect(summary).not.toBeNull();
    expect(Number(summary![1])).toBeGreaterThanOrEqual(1);
    expect(Number(summary![1])).toBeLessThanOrEqual(5);
    expect(out).toContain('took 16 invoices from invoices, totalling 1920');
  });

  it('against a broker: a lower --max-unsettled bounds what the pipeline holds, and both queues end empty', async () => {
    broker = await startBroker({ port: 0 });
    const out = await run('rx-pipeline.mjs', [`${broker.url}/incoming`, '--count', '30', '--max-unsettled', '2']);
    expect(out).toContain('sent 30 orders to incoming');
    const summary =
      /forwarded 24 invoices, dropped 6 test orders; at most (\d+) orders were unsettled at once \(maxUnsettled 2\)/.exec(
        out,
      );
    expect(summary).not.toBeNull();
    expect(Number(summary![1])).toBeLessThanOrEqual(2);
    expect(out).toContain('took 24 invoices from invoices');
    await expect.poll(() => broker!.queue('incoming')).toMatchObject({ depth: 0, inFlight: 0 });
    await expect.poll(() => broker!.queue('invoices')).toMatchObject({ depth: 0, inFlight: 0 });
  });
});
