// A request/response service: Proton's tutorial server.py. It consumes requests from a queue and
// answers each one with its body in upper case, sent to the request's reply-to address with the
// request's correlation id (or message id), through one anonymous-relay sender (each reply's
// `to` picks its destination) when the broker offers the ANONYMOUS-RELAY capability, else through
// a sender per reply-to address (RabbitMQ 3.10 has no anonymous relay).
//
//   node samples/server.mjs [amqp://localhost:5672/examples] [--count N] [--embedded]
//
// Without --count it serves until interrupted (Ctrl-C). With --embedded it starts a broker in
// this process and runs client.mjs's code against itself, then exits.
import { connect } from '../dist/esm/index.js';
import { isMain, maybeEmbeddedBroker, parseOptions } from './tutorial-common.mjs';
import { exitOnAmqpError } from './one-line-errors.mjs';

/**
 * Serves requests from `address` until `count` were answered (0: until the connection closes).
 * `onRequest` is told about each. Resolves with the number answered.
 */
export async function serve(connection, address, count, onRequest = () => {}) {
  const requests = await connection.createReceiver(address);
  const replies = replySenders(connection);
  let answered = 0;
  for await (const request of requests) {
    const { replyTo, correlationId, messageId, body } = request.message;
    onRequest(request.message);
    if (replyTo === undefined) {
      request.reject({ condition: 'amqp:precondition-failed', description: 'a request needs a reply-to address' });
      continue;
    }
    // Accept the request only once the reply is safely with the broker (at-least-once).
    await (
      await replies(replyTo)
    ).send({ to: replyTo, correlationId: correlationId ?? messageId, body: String(body).toUpperCase() });
    request.accept();
    answered++;
    if (answered === count) break;
  }
  return answered;
}

/** The sender for a reply to `replyTo`: the anonymous relay when the broker offers one, else one sender per address. */
function replySenders(connection) {
  if (connection.remoteOfferedCapabilities.includes('ANONYMOUS-RELAY')) {
    const relay = connection.createSender(null);
    return () => relay;
  }
  const senders = new Map();
  return (replyTo) => {
    if (!senders.has(replyTo)) senders.set(replyTo, connection.createSender(replyTo));
    return senders.get(replyTo);
  };
}

if (isMain(import.meta)) {
  exitOnAmqpError('server.mjs');
  const opts = parseOptions('server.mjs [URL] [--count N] [--embedded]', { count: 0 });
  if (opts.embedded) opts.count = 4; // the embedded demo client sends the tutorial's 4 requests
  const { broker, url } = await maybeEmbeddedBroker(opts);
  const connection = await connect(url);
  const stop = () => void connection.close();
  process.once('SIGINT', stop);
  console.log(`serving requests from ${opts.address} at ${url}${opts.count ? ` (${opts.count} of them)` : ''}`);
  let demo;
  if (broker) {
    const { request, REQUESTS } = await import('./client.mjs');
    demo = request(url, opts.address, REQUESTS, (req, reply) => console.log(`(embedded client) ${req} => ${reply}`));
  }
  const answered = await serve(connection, opts.address, opts.count, (m) =>
    console.log(`received ${JSON.stringify(m.body)}, replying to ${m.replyTo}`),
  );
  await demo;
  await connection.close();
  process.off('SIGINT', stop);
  console.log(`answered ${answered} requests`);
  await broker?.close();
}
