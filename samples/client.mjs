// The client of server.mjs: Proton's tutorial client.py. It makes a dynamic receiver (the broker
// creates a temporary queue for it, whose address comes back in the attach), sends each request
// with that address as reply-to and a correlation id, and prints the replies.
//
//   node samples/client.mjs [amqp://localhost:5672/examples] [REQUEST...] [--embedded]
//
// With --embedded it starts a broker in this process and runs server.mjs's code there too.
import { connect } from '../dist/esm/index.js';
import { isMain, maybeEmbeddedBroker, parseOptions } from './tutorial-common.mjs';
import { exitOnAmqpError } from './one-line-errors.mjs';

export const REQUESTS = [
  'Twas brillig, and the slithy toves',
  'Did gire and gymble in the wabe.',
  'All mimsy were the borogroves,',
  'And the mome raths outgrabe.',
];

/** Sends each request to `address` in turn and waits for its reply; `onReply(request, reply)`. */
export async function request(url, address, requests, onReply) {
  const connection = await connect(url);
  try {
    const replies = await connection.createReceiver({ source: { dynamic: true } });
    const sender = await connection.createSender(address);
    for (const [i, body] of requests.entries()) {
      const correlationId = `request-${i + 1}`;
      await sender.send({ messageId: correlationId, replyTo: replies.address, body });
      const reply = await replies.receive({ timeout: 30_000 });
      reply.accept();
      if (reply.message.correlationId !== correlationId) {
        throw new Error(
          `expected the reply to ${correlationId}, got one correlated to ${String(reply.message.correlationId)}`,
        );
      }
      onReply(body, reply.message.body);
    }
    return requests.length;
  } finally {
    await connection.close();
  }
}

if (isMain(import.meta)) {
  exitOnAmqpError('client.mjs');
  const opts = parseOptions('client.mjs [URL] [REQUEST...] [--embedded]');
  const requests = opts.rest.length > 0 ? opts.rest : REQUESTS;
  const { broker, url } = await maybeEmbeddedBroker(opts);
  let serving;
  if (broker) {
    const { serve } = await import('./server.mjs');
    const serverConnection = await connect(url);
    serving = serve(serverConnection, opts.address, requests.length).finally(() => serverConnection.close());
    console.log(`started the uppercase service (server.mjs) on the embedded broker`);
  }
  console.log(`sending ${requests.length} requests to ${opts.address} at ${url}`);
  await request(url, opts.address, requests, (req, reply) => console.log(`${req} => ${reply}`));
  await serving;
  await broker?.close();
}
