// Sends the records of a database, deleting each once the broker has settled it: Qpid Proton's
// db_send.py, with a JSON file for its sqlite database (an array of { "id", "description" }).
// Each record goes as a durable message whose id is the record's id and body its description.
//
//   node samples/db_send.mjs [amqp://localhost:5672/examples] [--messages 0] [--db src_db.json]
//
// --messages 0 sends every record in the file. A file that does not exist is made with 10
// records first (what Proton's db_ctrl.py does). Without a URL it starts Quark's embedded broker
// in the process (the messages are dropped when it stops).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, startBroker } from '../dist/esm/index.js';
import { parseOptions } from './tutorial-common.mjs';
import { exitOnAmqpError } from './one-line-errors.mjs';

exitOnAmqpError('db_send.mjs');

const opts = parseOptions('db_send.mjs [URL] [--messages 0] [--db src_db.json]', {
  extra: { messages: { type: 'string', short: 'm' }, db: { type: 'string' } },
});
const file = opts.values.db ?? 'src_db.json';
const target = Number(opts.values.messages ?? 0);

if (!existsSync(file)) {
  const records = Array.from({ length: 10 }, (_, i) => ({ id: i + 1, description: `Record number ${i + 1}` }));
  writeFileSync(file, `${JSON.stringify(records, null, 2)}\n`);
  console.log(`created ${file} with ${records.length} records`);
}
const load = () => JSON.parse(readFileSync(file, 'utf8'));
/** Deletes the record `id` from the file. */
const remove = (id) =>
  writeFileSync(
    file,
    `${JSON.stringify(
      load().filter((r) => r.id !== id),
      null,
      2,
    )}\n`,
  );

const broker = opts.urlGiven ? undefined : await startBroker({ port: 0 });
const connection = await connect(broker?.url ?? opts.url);
try {
  const sender = await connection.createSender(opts.address);
  console.log('loading records...');
  let records = load();
  if (target > 0) records = records.slice(0, target);
  if (records.length === 0) console.log('Exhausted available data');
  const settled = records.map((record) => {
    const done = sender.send({ messageId: record.id, durable: true, body: record.description }).then(() => {
      remove(record.id);
      console.log(`settled message ${record.id}`);
    });
    console.log(`sent message ${record.id}`);
    return done;
  });
  await Promise.all(settled);
} finally {
  await connection.close();
  await broker?.close();
}
