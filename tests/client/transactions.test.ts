/**
 * Local transactions (AMQP 1.0 transactions): Quark's client against the embedded broker's
 * coordinator, commit and rollback of sends and of accepts, a peer closing its coordinator link,
 * and Proton Python's own tx examples
 * (tx_send.py, tx_recv.py) against the broker.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { settleWith } from '../../src/client/listening-side.js';
import type { DeliveryState } from '../../src/codec/composite-types.js';
import {
  TransactionError,
  connect,
  listen,
  startBroker,
  type Broker,
  type Connection,
  type Receiver,
} from '../../src/index.js';
import { killPrograms, startProgram } from '../support/programs.js';
import { PYTHON, requirePythonProton } from '../support/proton-peers.js';

const PROTON_EXAMPLES = '/usr/share/proton/examples/python';

let broker: Broker | undefined;
let conn: Connection | undefined;
afterEach(async () => {
  killPrograms();
  await conn?.close();
  await broker?.close();
  conn = undefined;
  broker = undefined;
});

describe('transactions', () => {
  it(
    'sends in a transaction reach the queue only when it commits; a rollback leaves nothing',
    { timeout: 10_000 },
    async () => {
      broker = await startBroker({ port: 0 });
      conn = await connect(broker.url);
      const sender = await conn.createSender('tx-q');
      const tx = await conn.beginTransaction();
      expect(tx.id.length).toBeGreaterThan(0);
      const results = await Promise.all([1, 2].map((n) => sender.send({ body: n }, { transaction: tx })));
      expect(results.map((r) => r?.kind)).toEqual(['transactionalState', 'transactionalState']);
      expect(broker.queue('tx-q')?.depth ?? 0).toBe(0); // held until commit
      await tx.commit();
      expect(tx.state).toBe('committed');
      expect(broker.queue('tx-q')?.depth).toBe(2);
      const rolled = await conn.beginTransaction();
      await sender.send({ body: 3 }, { transaction: rolled });
      await rolled.rollback();
      expect(broker.queue('tx-q')?.depth).toBe(2);
      await expect(rolled.commit()).rejects.toBeInstanceOf(TransactionError);
    },
  );

  it(
    'accepts in a transaction take effect at commit; rolled back, the messages are delivered again',
    { timeout: 10_000 },
    async () => {
      broker = await startBroker({ port: 0 });
      conn = await connect(broker.url);
      const sender = await conn.createSender('tx-r');
      for (const n of [1, 2]) await sender.send({ body: n });
      const receiver = await conn.createReceiver({ source: 'tx-r', credit: 10 });
      const tx = await conn.beginTransaction();
      for (let i = 0; i < 2; i++) (await receiver.receive({ timeout: 2000 })).accept({ transaction: tx });
      await expect.poll(() => broker!.queue('tx-r')?.inFlight).toBe(2);
      await tx.rollback();
      const again = [await receiver.receive({ timeout: 2000 }), await receiver.receive({ timeout: 2000 })];
      expect(again.map((d) => d.message.body)).toEqual([1, 2]);
      const tx2 = await conn.beginTransaction();
      for (const d of again) d.accept({ transaction: tx2 });
      await tx2.commit();
      await expect.poll(() => broker!.queue('tx-r')).toMatchObject({ depth: 0, inFlight: 0 });
    },
  );

  it(
    'await using rolls back an unfinished transaction; a transaction lost with its connection fails with TransactionError',
    { timeout: 15_000 },
    async () => {
      broker = await startBroker({ port: 0 });
      const port = broker.port;
      conn = await connect({ url: broker.url, reconnect: { initialDelay: 20, maxDelay: 100 } });
      const sender = await conn.createSender('tx-d');
      {
        await using tx = await conn.beginTransaction();
        await sender.send({ body: 'never' }, { transaction: tx });
      }
      expect(broker.queue('tx-d')?.depth ?? 0).toBe(0);
      const tx = await conn.beginTransaction();
      await sender.send({ body: 'lost' }, { transaction: tx });
      await broker.close();
      broker = await startBroker({ port });
      await expect.poll(() => conn!.isOpen, { timeout: 5000 }).toBe(true);
      await expect(tx.commit()).rejects.toMatchObject({ condition: 'amqp:transaction:rollback' });
      expect(broker.queue('tx-d')?.depth ?? 0).toBe(0);
      const fresh = await conn.beginTransaction();
      await sender.send({ body: 'after' }, { transaction: fresh });
      await fresh.commit();
      expect(broker.queue('tx-d')?.depth).toBe(1);
    },
  );

  it(
    "Proton Python's tx_send.py and tx_recv.py against the broker: every batch committed, every message received once",
    { timeout: 30_000 },
    async () => {
      requirePythonProton();
      broker = await startBroker({ port: 0 });
      const address = `127.0.0.1:${broker.port}/examples`;
      const send = startProgram(
        PYTHON,
        [`${PROTON_EXAMPLES}/tx_send.py`, '-a', address, '-m', '20', '-b', '5'],
        process.cwd(),
        20_000,
      );
      const sent = await send.done;
      expect(sent.code, sent.stderr).toBe(0);
      expect(sent.stdout).toMatch(/all messages committed/);
      expect(broker.queue('examples')?.depth).toBe(20);
      const recv = startProgram(
        PYTHON,
        [`${PROTON_EXAMPLES}/tx_recv.py`, '-a', address, '-m', '20', '-b', '5'],
        process.cwd(),
        20_000,
      );
      const received = await recv.done;
      expect(received.code, received.stderr).toBe(0);
      const lines = received.stdout.trim().split('\n');
      expect(lines).toHaveLength(20);
      await expect.poll(() => broker!.queue('examples')).toMatchObject({ depth: 0, inFlight: 0 });
    },
  );

  it(
    "Proton Python's tx_recv_interactive.py (its address pointed at the test broker): fetch and commit take a message for good, fetch and abort give it back",
    { timeout: 30_000 },
    async () => {
      requirePythonProton();
      broker = await startBroker({ port: 0 });
      conn = await connect(broker.url);
      const sender = await conn.createSender('examples');
      for (const body of ['one', 'two']) await sender.send({ body });
      // The example connects to localhost:5672, hard-coded: a copy of it connects to this broker instead.
      const dir = mkdtempSync(join(tmpdir(), 'quark-tx-'));
      const script = join(dir, 'tx_recv_interactive.py');
      writeFileSync(
        script,
        readFileSync(`${PROTON_EXAMPLES}/tx_recv_interactive.py`, 'utf8').replace(
          '"localhost:5672"',
          `"127.0.0.1:${broker.port}"`,
        ),
      );
      const child = spawn(PYTHON, [script], { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (b: Buffer) => (out += b.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
      const waitFor = async (text: string, count = 1): Promise<void> => {
        const deadline = Date.now() + 10_000;
        while (out.split(text).length - 1 < count) {
          if (Date.now() > deadline)
            throw new Error(
              `tx_recv_interactive did not print ${JSON.stringify(text)} (x${count}); it printed: ${out}`,
            );
          await new Promise((r) => setTimeout(r, 20));
        }
      };
      try {
        await waitFor('transaction declared');
        child.stdin.write('fetch\n');
        await waitFor('one');
        child.stdin.write('commit\n');
        await waitFor('transaction committed');
        await waitFor('transaction declared', 2);
        await expect.poll(() => broker!.queue('examples')).toMatchObject({ depth: 1, inFlight: 0 });
        child.stdin.write('fetch\n');
        await waitFor('two');
        child.stdin.write('abort\n');
        await waitFor('transaction aborted');
        // Rolled back: the message is back, for anyone.
        await expect.poll(() => broker!.queue('examples')).toMatchObject({ depth: 1, inFlight: 0 });
      } finally {
        child.stdin.end();
        child.kill('SIGKILL');
        await exited;
        rmSync(dir, { recursive: true, force: true });
      }
      const receiver = await conn.createReceiver('examples');
      expect((await receiver.receive({ timeout: 2000 })).message.body).toBe('two');
    },
  );
});

describe('the link to the transaction coordinator', () => {
  it(
    'is attached again when the peer closed it: the next transaction begins on a new link',
    { timeout: 10_000 },
    async () => {
      // A peer acting as the coordinator (listen()), declaring transaction n on its n-th coordinator link.
      const listener = await listen({ port: 0, host: '127.0.0.1' });
      const coordinators: Receiver[] = [];
      const served = (async () => {
        for await (const link of listener) {
          if (!link.coordinator) {
            link.refuse();
            continue;
          }
          const receiver = link.acceptAsReceiver();
          coordinators.push(receiver);
          const txnId = Buffer.from([coordinators.length]);
          void (async () => {
            for await (const d of receiver) settleWith(d, { kind: 'declared', txnId } as DeliveryState);
          })().catch(() => {}); // the loop ends with an error when the link is closed
        }
      })();
      try {
        conn = await connect({ host: '127.0.0.1', port: listener.port, reconnect: false });
        const first = await conn.beginTransaction();
        expect([...first.id]).toEqual([1]);
        await coordinators[0]!.close({
          error: { condition: 'amqp:internal-error', description: 'coordinator restarted' },
        });
        // close() resolved on the client's answering detach: its coordinator link has ended.
        const second = await conn.beginTransaction();
        expect([...second.id]).toEqual([2]);
        expect(coordinators).toHaveLength(2);
      } finally {
        await conn?.close();
        conn = undefined;
        await listener.close();
        await served;
      }
    },
  );
});
