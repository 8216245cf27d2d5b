// Receives messages and inserts each in a database, accepting it once it is stored: Qpid
// Proton's db_recv.py, with a JSON file for its sqlite database (an array of { "id",
// "description" }, appended to). A message whose id is not above the last one stored is a
// duplicate: it is accepted and not stored again.
//
//   node samples/db_recv.mjs [amqp://localhost:5672/examples] [--messages 0] [--db dst_db.json]
//
// --messages 0 receives until Ctrl-C. Without a URL it starts Quark's embedded broker in the
// process, first sends it 10 messages, and receives those.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, startBroker } from '../dist/esm/index.js';
import { parseOptions } from './tutorial-common.mjs';
import { exitOnAmqpError } from './one-line-errors.mjs';

exitOnAmqpError('db_recv.mjs');

const opts = parseOptions('db_recv.mjs [URL] [--messages 0] [--db dst_db.json]', {
  extra: { messages: { type: 'string', short: 'm' }, db: { type: 'string' } },
});
const file = opts.values.db ?? 'dst_db.json';
const load = () => (existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : []);
const insert = (id, description) =>
  writeFileSync(file, `${JSON.stringify([...load(), { id, description }], null, 2)}\n`);

const broker = opts.urlGiven ? undefined : await startBroker({ port: 0 });
const expected = broker ? Number(opts.values.messages ?? 10) : Number(opts.values.messages ?? 0);
const connection = await connect(broker?.url ?? opts.url);
try {
  if (broker) {
    const sender = await connection.createSender(opts.address);
    for (let id = 1; id <= expected; id++)
      await sender.send({ messageId: id, durable: true, body: `Record number ${id}` });
    await sender.close();
  }
  let lastId = load().reduce((max, r) => Math.max(max, r.id), 0);
  const receiver = await connection.createReceiver(opts.address);
  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort());
  let received = 0;
  for await (const delivery of receiver.deliveries({ signal: stop.signal })) {
    const id = Number(delivery.message.messageId);
    if (id > lastId) {
      lastId = id;
      insert(id, delivery.message.body);
      received += 1;
      console.log(`inserted message ${id}`);
    }
    delivery.accept();
    if (expected !== 0 && received === expected) break;
  }
} finally {
  await connection.close();
  await broker?.close();
}
