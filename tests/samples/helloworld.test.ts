import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { startBroker, type Broker } from '../../src/index.js';
import { killPrograms, startProgram, type ProgramRun } from '../support/programs.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
let broker: Broker | undefined;

afterEach(async () => {
  killPrograms();
  await broker?.close();
  broker = undefined;
});

/** Runs a sample the way its header says (`node samples/X.mjs ...`, on the build in dist/). */
function runSample(file: string, args: string[]): Promise<ProgramRun> {
  return startProgram(process.execPath, [`samples/${file}`, ...args], root, 30_000).done;
}

describe('the helloworld samples (Proton tutorial) print what they sent through a peer', () => {
  for (const sample of ['helloworld.mjs', 'helloworld-handlers.mjs']) {
    it(`${sample} --embedded prints "Hello World!" and exits 0`, async () => {
      const { code, stdout, stderr } = await runSample(sample, ['--embedded']);
      expect(stderr).toBe('');
      expect(stdout).toBe('Hello World!\n');
      expect(code).toBe(0);
    });

    it(`${sample} given a URL sends through the broker there, on the URL's address, and leaves nothing queued`, async () => {
      broker = await startBroker({ port: 0 });
      const { code, stdout, stderr } = await runSample(sample, [`${broker.url}/greetings`]);
      expect(stderr).toBe('');
      expect(stdout).toBe('Hello World!\n');
      expect(code).toBe(0);
      expect(broker.queues().find((q) => q.address === 'greetings')).toMatchObject({ depth: 0, inFlight: 0 });
    });
  }

  it('a sample given an unreachable URL fails with a non-zero exit and says why', async () => {
    const { code, stdout, stderr } = await runSample('helloworld-handlers.mjs', ['amqp://127.0.0.1:1/examples']);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/connection refused/);
    expect(code).not.toBe(0);
  });
});

describe('npm start (samples/demo.mjs)', () => {
  it('runs the embedded broker, sends and receives through it in every style, and exits 0 leaving nothing running', async () => {
    const { code, stdout, stderr } = await runSample('demo.mjs', []);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toMatch(/^1\. Embedded broker listening on amqp:\/\/127\.0\.0\.1:\d+$/m);
    expect(stdout).toContain('3. Sent an order; the broker settled it as accepted');
    for (let n = 2; n <= 5; n++) expect(stdout).toContain(`4. Received order ${n} (${n} x gadget)`);
    expect(stdout).toContain(
      '4. Received order 1 (3 x widget), properties {"region":"eu","priority":7,"express":true}',
    );
    expect(stdout).toContain('5. RxJS: sent 10 events through sendTo()');
    expect(stdout).toContain('6. RxJS: received 10 events through deliveries$()');
    expect(stdout).toContain('7. Closed the connection and stopped the broker. Done.');
  });
});
