/**
 * Request/response: createRequester() and createResponder() through the embedded broker, with
 * each other and with Qpid Proton's own server.py and sync_client.py (Proton's SyncRequestResponse).
 */
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  AbortError,
  IllegalStateError,
  TimeoutError,
  connect,
  listen,
  startBroker,
  type Broker,
  type Connection,
  type Receiver,
  type Sender,
} from '../../src/index.js';
import { killPrograms, startProgram } from '../support/programs.js';
import { PYTHON, requirePythonProton } from '../support/proton-peers.js';

const PROTON_EXAMPLES = '/usr/share/proton/examples/python';
const HERE = fileURLToPath(new URL('.', import.meta.url));

let broker: Broker | undefined;
let conn: Connection | undefined;
afterEach(async () => {
  killPrograms();
  await conn?.close();
  await broker?.close();
  conn = undefined;
  broker = undefined;
});

describe('a requester whose peer ends it', () => {
  it(
    'a reply link the peer closes fails the requests waiting at once (they waited for their timeout), and a request given up is never sent',
    { timeout: 20_000 },
    async () => {
      const listener = await listen({ port: 0 });
      const replyLinks: Sender[] = [];
      const requests: unknown[] = [];
      const requestLinks: Receiver[] = [];
      void (async () => {
        for await (const link of listener) {
          if (link.role === 'sender') replyLinks.push(link.acceptAsSender({ address: 'reply-here' }));
          else
            void (async () => {
              const receiver = link.acceptAsReceiver({ credit: 0 });
              requestLinks.push(receiver);
              for await (const d of receiver) requests.push(d.message.body);
            })();
        }
      })();
      try {
        conn = await connect({ url: listener.url, reconnect: false });
        const requester = await conn.createRequester('service');
        // No credit for requests: this one waits, gives up after 100 ms, and must not go out later.
        await expect(requester.request({ body: 'stale' }, { timeout: 100 })).rejects.toBeInstanceOf(TimeoutError);
        requestLinks[0]!.addCredit(5); // credit now: the given-up request still does not go out
        await new Promise((resolve) => setTimeout(resolve, 200));
        expect(requests).toEqual([]);
        const waiting = requester.request({ body: 'never answered' }, { timeout: 15_000 });
        const failed = expect(waiting).rejects.toBeInstanceOf(IllegalStateError); // handled before it rejects
        const start = Date.now();
        await replyLinks[0]!.close(); // the peer closes the reply link, cleanly
        await failed;
        expect(Date.now() - start).toBeLessThan(5000); // at once, not at its 15 s timeout
        expect(requests).toEqual(['never answered']); // sent (it had credit); the stale one never
      } finally {
        await conn?.close();
        conn = undefined;
        await listener.close();
      }
    },
  );
});

describe('request/response', () => {
  beforeAll(() => void requirePythonProton());

  it(
    'many concurrent requests each resolve with their own reply; the responder answers with the correlation id',
    { timeout: 20_000 },
    async () => {
      broker = await startBroker({ port: 0 });
      conn = await connect(broker.url);
      const responder = await conn.createResponder(
        'rpc',
        async (request) => {
          await new Promise((r) => setTimeout(r, Math.random() * 5));
          return { body: String(request.body).toUpperCase() };
        },
        { concurrency: 8 },
      );
      const requester = await conn.createRequester('rpc');
      expect(requester.replyTo).toMatch(/^temp-queue:\/\//);
      const words = Array.from({ length: 200 }, (_, i) => `word-${i}`);
      const replies = await Promise.all(words.map((w) => requester.request({ body: w }, { timeout: 5000 })));
      expect(replies.map((r) => r.body)).toEqual(words.map((w) => w.toUpperCase()));
      expect(requester.pending).toBe(0);
      expect(responder.answered).toBe(200);
      await requester.close();
      await responder.close();
      expect(broker.queue('rpc')).toMatchObject({ depth: 0, inFlight: 0 });
    },
  );

  it(
    'a request with no reply in time rejects with TimeoutError; its late reply is dropped and counted; an aborted one rejects with AbortError',
    { timeout: 20_000 },
    async () => {
      broker = await startBroker({ port: 0 });
      conn = await connect(broker.url);
      let delay = 300;
      const responder = await conn.createResponder('slow', async (request) => {
        await new Promise((r) => setTimeout(r, delay));
        return { body: request.body };
      });
      const requester = await conn.createRequester('slow', { timeout: 100 });
      await expect(requester.request({ body: 'late' })).rejects.toBeInstanceOf(TimeoutError);
      await expect.poll(() => requester.droppedReplies, { timeout: 2000 }).toBe(1);
      delay = 0;
      const controller = new AbortController();
      const aborted = requester.request({ body: 'never mind' }, { signal: controller.signal, timeout: 5000 });
      controller.abort();
      await expect(aborted).rejects.toBeInstanceOf(AbortError);
      await expect(requester.request({ body: 'fine' }, { timeout: 5000 })).resolves.toMatchObject({ body: 'fine' });
      await requester.close();
      await expect(requester.request({ body: 'x' })).rejects.toThrow(/requester to 'slow' is closed/);
      await responder.close();
    },
  );

  it(
    "Quark's requester against Proton's server.py, and Proton's sync_client.py against Quark's responder",
    { timeout: 30_000 },
    async () => {
      broker = await startBroker({ port: 0 });
      const url = `127.0.0.1:${broker.port}`;
      const server = startProgram(PYTHON, [`${PROTON_EXAMPLES}/server.py`, '-a', `${url}/examples`], HERE, 20_000);
      await server.waitFor(/Listening on/);
      await expect.poll(() => broker!.queue('examples')?.consumers ?? 0, { timeout: 5000 }).toBe(1);
      conn = await connect(broker.url);
      const requester = await conn.createRequester('examples');
      const reply = await requester.request({ body: 'Twas brillig' }, { timeout: 5000 });
      expect(reply.body).toBe('TWAS BRILLIG');
      await requester.close();
      server.child.kill('SIGINT');

      const responder = await conn.createResponder('rpc-py', (request) => ({
        body: String(request.body).toUpperCase(),
      }));
      const client = startProgram(PYTHON, [`${PROTON_EXAMPLES}/sync_client.py`, '-a', `${url}/rpc-py`], HERE, 20_000);
      const { code, stdout } = await client.done;
      expect(code).toBe(0);
      expect(stdout).toContain('Twas brillig, and the slithy toves => TWAS BRILLIG, AND THE SLITHY TOVES');
      expect(stdout.trim().split('\n')).toHaveLength(4);
      expect(responder.answered).toBe(4);
      await responder.close();
    },
  );
});
