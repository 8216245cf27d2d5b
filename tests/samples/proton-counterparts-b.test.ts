import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { startBroker, type Broker } from '../../src/index.js';
import { killPrograms, startProgram, type ProgramRun } from '../support/programs.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
let broker: Broker | undefined;
let dir: string | undefined;

afterEach(async () => {
  killPrograms();
  await broker?.close();
  broker = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

/** Runs a sample the way its header says (`node samples/X.mjs ...`, on the build in dist/). */
function runSample(file: string, args: string[], cwd = root): Promise<ProgramRun> {
  return startProgram(process.execPath, [join(root, 'samples', file), ...args], cwd, 15_000).done;
}

const sequences = (from: number, to: number): string =>
  Array.from({ length: to - from + 1 }, (_, i) => `{"sequence":${from + i}}\n`).join('');

describe('broker.mjs (Proton broker.py on listen())', () => {
  it('serves simple_send.mjs and simple_recv.mjs, queues by address, and stops on SIGTERM with exit 0', async () => {
    const program = startProgram(process.execPath, ['samples/broker.mjs', 'amqp://127.0.0.1:0'], root, 15_000);
    const [, url] = await program.waitFor(/^broker listening on (amqp:\/\/\S+)$/m);
    const send = await runSample('simple_send.mjs', [`${url}/examples`, '--count', '10']);
    expect(send.stderr).toBe('');
    expect(send.stdout).toContain('all messages confirmed (10)');
    expect(send.code).toBe(0);
    const other = await runSample('simple_send.mjs', [`${url}/other`, '--count', '2']);
    expect(other.code).toBe(0);
    const recv = await runSample('simple_recv.mjs', [`${url}/examples`, '--count', '10']);
    expect(recv.stderr).toBe('');
    expect(recv.stdout).toContain(sequences(1, 10));
    expect(recv.stdout).toContain('received 10 messages');
    expect(recv.code).toBe(0);
    const recvOther = await runSample('simple_recv.mjs', [`${url}/other`, '--count', '2']);
    expect(recvOther.stdout).toContain(sequences(1, 2));
    expect(recvOther.code).toBe(0);
    program.child.kill('SIGTERM');
    const end = await program.done;
    expect(end.stderr).toBe('');
    expect(end.code).toBe(0);
  });

  it('has consumers of one queue compete: each message goes to exactly one of them', async () => {
    const program = startProgram(process.execPath, ['samples/broker.mjs', 'amqp://127.0.0.1:0'], root, 15_000);
    const [, url] = await program.waitFor(/^broker listening on (amqp:\/\/\S+)$/m);
    const a = runSample('simple_recv.mjs', [`${url}/work`, '--count', '5']);
    const b = runSample('simple_recv.mjs', [`${url}/work`, '--count', '5']);
    await new Promise((r) => setTimeout(r, 500));
    const send = await runSample('simple_send.mjs', [`${url}/work`, '--count', '10']);
    expect(send.code).toBe(0);
    const [ra, rb] = await Promise.all([a, b]);
    expect(ra.code).toBe(0);
    expect(rb.code).toBe(0);
    const bodies = `${ra.stdout}${rb.stdout}`.split('\n').filter((l) => l.startsWith('{'));
    expect(bodies.sort()).toEqual(sequences(1, 10).trim().split('\n').sort());
  });
});

describe('tx_send.mjs and tx_recv.mjs (Proton tx_send.py, tx_recv.py)', () => {
  it('alone (embedded broker) each prints what the original prints and exits 0', async () => {
    const send = await runSample('tx_send.mjs', ['--messages', '20', '--batch-size', '5']);
    expect(send).toEqual({ code: 0, stdout: 'all messages committed\n', stderr: '' });
    const recv = await runSample('tx_recv.mjs', ['-m', '6', '-b', '3']);
    expect(recv).toEqual({ code: 0, stdout: sequences(1, 6), stderr: '' });
  });

  it('against a broker: sends in committed batches, then receives them in transactions, leaving the queue empty', async () => {
    broker = await startBroker({ port: 0 });
    const send = await runSample('tx_send.mjs', [`${broker.url}/txq`, '-m', '20', '-b', '5']);
    expect(send).toEqual({ code: 0, stdout: 'all messages committed\n', stderr: '' });
    expect(broker.queues().find((q) => q.address === 'txq')?.depth).toBe(20);
    const recv = await runSample('tx_recv.mjs', [`${broker.url}/txq`, '-m', '20', '-b', '5']);
    expect(recv).toEqual({ code: 0, stdout: sequences(1, 20), stderr: '' });
    expect(broker.queues().find((q) => q.address === 'txq')).toMatchObject({ depth: 0, inFlight: 0 });
  });
});

describe('tx_recv_interactive.mjs (Proton tx_recv_interactive.py)', () => {
  it('fetches, aborts (the message comes again), commits and quits, driven through stdin', async () => {
    broker = await startBroker({ port: 0 });
    const send = await runSample('tx_send.mjs', [`${broker.url}/examples`, '-m', '2', '-b', '2']);
    expect(send.code).toBe(0);
    const child = spawn(process.execPath, ['samples/tx_recv_interactive.mjs', `${broker.url}/examples`], {
      cwd: root,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    let stdout = '';
    let stderr = '';
    const watchers = new Set<() => void>();
    child.stdout.on('data', (b: Buffer) => {
      stdout += b.toString();
      for (const w of watchers) w();
    });
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    /** Waits until stdout holds `text` `times` times. */
    const waitFor = (text: string, times = 1): Promise<void> =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          if (stdout.split(text).length - 1 >= times) {
            watchers.delete(check);
            resolve();
          } else if (child.exitCode !== null) reject(new Error(`ended before ${text}: ${stdout}${stderr}`));
        };
        watchers.add(check);
        check();
      });
    try {
      await waitFor('transaction declared');
      child.stdin.write('fetch\n');
      await waitFor('{"sequence":1}');
      child.stdin.write('abort\n');
      await waitFor('transaction aborted');
      await waitFor('transaction declared', 2);
      child.stdin.write('fetch\n');
      await waitFor('{"sequence":1}', 2);
      child.stdin.write('fetch\n');
      await waitFor('{"sequence":2}');
      child.stdin.write('commit\n');
      await waitFor('transaction committed');
      await waitFor('transaction declared', 3);
      child.stdin.write('quit\n');
      expect(await exited).toBe(0);
    } finally {
      clearTimeout(timer);
      child.kill('SIGKILL');
    }
    expect(stderr).toBe('');
    expect(stdout).toBe(
      [
        "Enter 'fetch', 'commit' or 'abort'",
        'transaction declared',
        '{"sequence":1}',
        'transaction aborted',
        'transaction declared',
        '{"sequence":1}',
        '{"sequence":2}',
        'transaction committed',
        'transaction declared',
        '',
      ].join('\n'),
    );
    expect(broker.queues().find((q) => q.address === 'examples')).toMatchObject({ depth: 0, inFlight: 0 });
  });
});

describe('db_send.mjs and db_recv.mjs (Proton db_send.py, db_recv.py, a JSON file as the database)', () => {
  it('db_send sends the records of its file and deletes each once settled; db_recv inserts them in its own', async () => {
    broker = await startBroker({ port: 0 });
    dir = mkdtempSync(join(tmpdir(), 'quark-db-'));
    const src = join(dir, 'src.json');
    const dst = join(dir, 'dst.json');
    const records = [1, 2, 3, 4].map((id) => ({ id, description: `item ${id}` }));
    writeFileSync(src, JSON.stringify(records));
    const send = await runSample('db_send.mjs', [`${broker.url}/db`, '--db', src], dir);
    expect(send.stderr).toBe('');
    expect(send.code).toBe(0);
    expect(send.stdout.split('\n')[0]).toBe('loading records...');
    for (const id of [1, 2, 3, 4]) {
      expect(send.stdout).toContain(`sent message ${id}\n`);
      expect(send.stdout).toContain(`settled message ${id}\n`);
    }
    expect(JSON.parse(readFileSync(src, 'utf8'))).toEqual([]);
    expect(broker.queues().find((q) => q.address === 'db')?.depth).toBe(4);

    writeFileSync(dst, JSON.stringify([{ id: 1, description: 'item 1' }])); // 1 is a duplicate already stored
    const recv = await runSample('db_recv.mjs', [`${broker.url}/db`, '--messages', '3', '--db', dst], dir);
    expect(recv).toEqual({
      code: 0,
      stdout: 'inserted message 2\ninserted message 3\ninserted message 4\n',
      stderr: '',
    });
    expect(JSON.parse(readFileSync(dst, 'utf8'))).toEqual(records);
    expect(broker.queues().find((q) => q.address === 'db')).toMatchObject({ depth: 0, inFlight: 0 });
  });

  it('alone (embedded broker), db_send makes and sends a 10-record file and db_recv stores 10 messages', async () => {
    dir = mkdtempSync(join(tmpdir(), 'quark-db-'));
    const send = await runSample('db_send.mjs', ['--messages', '3'], dir);
    expect(send.stderr).toBe('');
    expect(send.code).toBe(0);
    expect(send.stdout).toContain('created src_db.json with 10 records\nloading records...\n');
    expect(send.stdout).toContain('settled message 3\n');
    expect(JSON.parse(readFileSync(join(dir, 'src_db.json'), 'utf8'))).toHaveLength(7);
    const recv = await runSample('db_recv.mjs', [], dir);
    expect(recv.stderr).toBe('');
    expect(recv.code).toBe(0);
    expect(recv.stdout).toBe(Array.from({ length: 10 }, (_, i) => `inserted message ${i + 1}\n`).join(''));
    expect(JSON.parse(readFileSync(join(dir, 'dst_db.json'), 'utf8'))).toHaveLength(10);
  });
});
