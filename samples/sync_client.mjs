// The client side of request/response, one call at a time: Qpid Proton's sync_client.py
// (SyncRequestResponse), with Quark's requester (`conn.createRequester`). Each request carries a
// reply-to (a dynamic receiver's address) and a correlation id; the reply is awaited before the
// next request is sent.
//
//   node samples/sync_client.mjs [amqp://localhost:5672/examples] [--timeout 5]
//
// The URL's path is the address of the service (server.mjs, server_direct.mjs, Proton's
// server.py, ...). Without a URL it starts Quark's embedded broker in this process and a
// responder on it (`conn.createResponder`) that answers with the body in upper case.
// --timeout is in seconds, per request.
import { parseArgs } from 'node:util';
import { connect, startBroker } from '../dist/esm/index.js';
import { exitOnAmqpError } from './one-line-errors.mjs';

exitOnAmqpError('sync_client.mjs');

const { values, positionals } = parseArgs({
  options: { timeout: { type: 'string', short: 't', default: '5' } },
  allowPositionals: true,
});
const given = positionals[0] === undefined ? undefined : new URL(positionals[0]);
const broker = given ? undefined : await startBroker({ port: 0 });
const url = given ? `${given.protocol}//${given.host}` : broker.url;
const address = (given && decodeURIComponent(given.pathname.replace(/^\//, ''))) || 'examples';

const REQUESTS = [
  'Twas brillig, and the slithy toves',
  'Did gire and gymble in the wabe.',
  'All mimsy were the borogroves,',
  'And the mome raths outgrabe.',
];

try {
  const conn = await connect(url);
  try {
    if (broker) await conn.createResponder(address, (request) => ({ body: String(request.body).toUpperCase() }));
    const client = await conn.createRequester(address, { timeout: Number(values.timeout) * 1000 });
    for (const request of REQUESTS) {
      const response = await client.request({ body: request });
      console.log(`${request} => ${String(response.body)}`);
    }
  } finally {
    await conn.close();
  }
} finally {
  await broker?.close();
}
