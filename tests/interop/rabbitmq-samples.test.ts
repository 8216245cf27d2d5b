/**
 * The samples against a real RabbitMQ 3.10 (rabbitmq_amqp1_0), run as users run them: plain
 * `node samples/<name>.mjs amqp://guest:guest@host:port//queue/NAME` on the build in dist/
 * (a `//` path is RabbitMQ's `/queue/NAME` address). Those RabbitMQ can serve print what they
 * did and exit 0; those that need a feature it lacks (drain, dynamic nodes, transactions, the
 * `modified` outcome) print one line, the typed error's message naming the feature, and exit 1:
 * no stack trace, no more than a quoted start of an Erlang term.
 *
 * Runs its own private node (scripts/rabbitmq.sh, see tests/support/rabbitmq.ts); without
 * RabbitMQ installed the suite fails, never skips.
 */
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/index.js';
import { killPrograms, runSampleOk, startProgram, startSample, type ProgramRun } from '../support/programs.js';
import { useRabbitMq, type RabbitMq } from '../support/rabbitmq.js';

// dist/ (what the samples import) is built fresh by the global setup (tests/support/global-build.ts).
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
let broker: RabbitMq;

beforeAll(async () => {
  broker = await useRabbitMq();
}, 180_000);

afterAll(async () => {
  killPrograms();
  await broker?.release();
}, 120_000);

afterEach(killPrograms);

/** A URL for the sample: guest over loopback, its path RabbitMQ's address of a queue of this test's own. */
function queueUrl(name: string): string {
  return `amqp://guest:guest@${broker.host}:${broker.port}//queue/quark-sample-${name}-${randomUUID()}`;
}

function run(sample: string, args: string[], timeoutMs = 40_000): Promise<ProgramRun> {
  return startSample(sample, args, timeoutMs).done;
}

/** Runs a sample that RabbitMQ serves: it must exit 0 and print nothing on stderr. */
const runOk = (sample: string, args: string[]): Promise<string> => runSampleOk(sample, args);

/** Runs a sample that needs what RabbitMQ lacks: exit 1, and stderr exactly one line (no stack, no dump). */
async function runRefused(sample: string, args: string[]): Promise<string> {
  const r = await run(sample, args);
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, `${sample} stderr:\n${r.stderr}`).toHaveLength(1);
  expect(r.code, `${sample} stdout:\n${r.stdout}`).toBe(1);
  expect(lines[0]!.startsWith(`${sample}: `)).toBe(true);
  expect(lines[0]!.length).toBeLessThan(600);
  expect(r.stderr).not.toMatch(/\n\s+at |unexpected failure|triggerUncaughtException/);
  return lines[0]!;
}

describe('samples RabbitMQ serves run to their end (exit 0)', () => {
  it('helloworld.mjs and helloworld-handlers.mjs send "Hello World!" and receive it back', async () => {
    expect(await runOk('helloworld.mjs', [queueUrl('hello')])).toBe('Hello World!\n');
    expect(await runOk('helloworld-handlers.mjs', [queueUrl('hello-handlers')])).toBe('Hello World!\n');
  });

  it('simple_send.mjs then simple_recv.mjs: 5 messages confirmed, then received in order', async () => {
    const url = queueUrl('simple');
    expect(await runOk('simple_send.mjs', [url, '--count', '5'])).toContain('all messages confirmed (5)');
    const got = await runOk('simple_recv.mjs', [url, '--count', '5']);
    expect(got.split('\n').filter((l) => l.startsWith('{'))).toEqual([1, 2, 3, 4, 5].map((n) => `{"sequence":${n}}`));
  });

  it('server.mjs answers a request to its reply-to queue (one sender per reply-to: RabbitMQ has no anonymous relay)', async () => {
    const url = queueUrl('server');
    const address = url.slice(url.indexOf('//queue/') + 1);
    const server = startProgram(process.execPath, ['samples/server.mjs', url, '--count', '1'], ROOT, 40_000);
    await server.waitFor(/^serving requests from /m);
    const client = await connect({
      host: broker.host,
      port: broker.port,
      username: 'guest',
      password: 'guest',
      reconnect: false,
    });
    try {
      const replyTo = `/queue/quark-sample-replies-${randomUUID()}`;
      const replies = await client.createReceiver(replyTo);
      await (await client.createSender(address)).send({ body: 'hello', replyTo, correlationId: 'c-1' });
      const reply = await replies.receive({ timeout: 15_000 });
      reply.accept();
      expect(reply.message).toMatchObject({ body: 'HELLO', correlationId: 'c-1' });
    } finally {
      await client.close();
    }
    const ended = await server.done;
    expect(ended.stderr).toBe('');
    expect(ended.code).toBe(0);
    expect(ended.stdout).toContain('answered 1 requests');
  });

  it('for-await-receiver.mjs handles and accepts every order', async () => {
    const out = await runOk('for-await-receiver.mjs', [queueUrl('for-await'), '--count', '3', '--timeout', '20']);
    expect(out).toContain('stopped (all 3 orders handled) after 3 orders');
  });
});

describe('samples that need a feature RabbitMQ 3.10 lacks say so in one line and exit 1', () => {
  it('queue_browser.mjs (drain): the session ended while draining, naming drain', async () => {
    const line = await runRefused('queue_browser.mjs', [queueUrl('browser')]);
    expect(line).toMatch(
      /^queue_browser\.mjs: The peer ended the session \(amqp:internal-error\) while a drain was under way on the receiver from '\/queue\/quark-sample-browser-[^']+': it may not support drain \(RabbitMQ 3\.10 does not\)/,
    );
    expect(line).toContain('(the rest is in error.description)'); // the Erlang term is quoted, not dumped
  });

  it('client.mjs and sync_client.mjs (a dynamic reply-to queue): "Dynamic sources not supported"', async () => {
    for (const sample of ['client.mjs', 'sync_client.mjs']) {
      expect(await runRefused(sample, [queueUrl(sample.replace('.mjs', ''))])).toBe(
        `${sample}: The peer ended the session: Dynamic sources not supported. (amqp:not-implemented)`,
      );
    }
  });

  it('tx_send.mjs and tx_recv.mjs (transactions): "Transactions not supported"', async () => {
    for (const sample of ['tx_send.mjs', 'tx_recv.mjs']) {
      expect(
        await runRefused(sample, [queueUrl(sample.replace('.mjs', '')), '--messages', '3', '--batch-size', '1']),
      ).toBe(`${sample}: The peer ended the session: Transactions not supported. (amqp:not-implemented)`);
    }
  });

  it('subscribe-consumer.mjs (the modified outcome of a failed order): RabbitMQ refuses the modified state', async () => {
    const line = await runRefused('subscribe-consumer.mjs', [queueUrl('subscribe'), '--count', '10']);
    expect(line).toMatch(
      /^subscribe-consumer\.mjs: The peer ended the session: Unrecognised state: \{'v1_0\.modified'.*\(amqp:invalid-field\)$/,
    );
  });
});
