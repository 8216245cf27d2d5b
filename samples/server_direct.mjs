// A request/response service peer to peer, with no broker: Qpid Proton's server_direct.py, with
// Quark's `listen()`. Clients connect to it directly; it gives a client's dynamic receiver an
// address of its own (a UUID), remembers that link as the way to reach the address, and answers
// each request received with its body in upper case, sent on the link of its reply-to address
// with the request's correlation id.
//
//   node samples/server_direct.mjs [amqp://127.0.0.1:8888] [--count 0]
//
// Runs until Ctrl-C, or until it has answered --count requests (and that client has gone). Port 0 picks a free port (the
// "Listening on" line says which). sync_client.mjs is a client for it.
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { listen } from '../dist/esm/index.js';
import { exitOnAmqpError } from './one-line-errors.mjs';

exitOnAmqpError('server_direct.mjs');

const { values, positionals } = parseArgs({
  options: { count: { type: 'string', short: 'c', default: '0' } },
  allowPositionals: true,
});
const given = new URL(positionals[0] ?? 'amqp://127.0.0.1:8888');
const count = Number(values.count);

const listener = await listen({
  host: given.hostname.replace(/^\[|\]$/g, ''),
  port: given.port === '' ? 8888 : Number(given.port),
});
console.log('Listening on', listener.url);
const stop = () => void listener.close();
process.once('SIGINT', stop);

/** Sender links by the address they reach. */
const senders = new Map();
let answered = 0;

async function serve(receiver) {
  for await (const delivery of receiver) {
    const request = delivery.message;
    console.log('Received', JSON.stringify(request.body));
    const sender = senders.get(request.replyTo);
    if (!sender) {
      console.log('No link for reply');
      delivery.reject({ condition: 'amqp:not-found', description: `no link for reply-to ${String(request.replyTo)}` });
      continue;
    }
    // As in Proton, the reply is sent without waiting for the client to settle it (a client may
    // close as soon as it has its last reply).
    sender
      .send({ to: request.replyTo, body: String(request.body).toUpperCase(), correlationId: request.correlationId })
      .catch(() => {});
    delivery.accept();
    answered++;
  }
}

const serving = new Set();
for await (const link of listener) {
  if (link.role === 'sender') {
    // The peer receives: from a node we make (dynamic), or from a named address.
    const address = link.dynamic ? randomUUID() : (link.source?.address ?? randomUUID());
    senders.set(address, link.acceptAsSender({ address }));
  } else {
    const done = serve(link.acceptAsReceiver())
      .catch(() => {}) // the loop throws when the client closes its connection
      .finally(() => {
        // With --count, stop once a client that had the last answer has gone.
        if (count !== 0 && answered >= count) stop();
      });
    serving.add(done);
    done.finally(() => serving.delete(done));
  }
}
await Promise.all(serving);
process.off('SIGINT', stop);
