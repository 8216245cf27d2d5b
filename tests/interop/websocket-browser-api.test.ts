/**
 * A browser-style client: rhea as a web page runs it, over the WHATWG WebSocket API (here Node's
 * own, undici's, behind --experimental-websocket in Node 20: binaryType 'arraybuffer', messages as
 * ArrayBuffers, no Node options), against Quark's broker. The same API a browser gives a page;
 * no browser is started.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, it } from 'vitest';
import { connect, startBroker, type Broker } from '../../src/index.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
let broker: Broker | undefined;
afterEach(async () => {
  await broker?.stop();
  broker = undefined;
});

/** Sends 5 messages (waiting for each accept), then receives 5 and accepts them; prints what it saw as JSON. */
const PAGE = `
if (typeof WebSocket !== 'function' || typeof process.versions.undici !== 'string') throw new Error('no WHATWG WebSocket in this Node');
const rhea = require('rhea');
const container = rhea.create_container({ id: 'browser-page' });
const connection = container.connect({ connection_details: container.websocket_connect(WebSocket)(process.argv[1], ['amqp']), username: 'anonymous', reconnect: false });
const result = { accepted: 0, received: [] };
const timer = setTimeout(() => { console.log(JSON.stringify({ ...result, timedOut: true })); process.exit(1); }, 15000);
connection.on('connection_open', () => {
  const sender = connection.open_sender('from-page');
  sender.once('sendable', () => { for (let i = 0; i < 5; i++) sender.send({ body: 'page ' + i }); });
  sender.on('accepted', () => {
    if (++result.accepted < 5) return;
    const receiver = connection.open_receiver({ source: 'to-page', autoaccept: true });
    receiver.on('message', (ctx) => {
      result.received.push(ctx.message.body);
      if (result.received.length === 5) connection.close();
    });
  });
});
connection.on('connection_close', () => { clearTimeout(timer); console.log(JSON.stringify(result)); });
connection.on('disconnected', (ctx) => { if (ctx.error) { console.log(JSON.stringify({ ...result, error: String(ctx.error) })); process.exit(1); } });
`;

it("rhea over the browser WebSocket API sends to and receives from Quark's broker, with settlement", async () => {
  broker = await startBroker({ port: 0, websocket: { path: '/amqp' } });
  const quark = await connect(broker.url);
  const sender = await quark.createSender('to-page');
  const sends = Array.from({ length: 5 }, (_, i) => sender.send({ body: `quark ${i}` }));
  const out = await new Promise<string>((resolve, reject) => {
    execFile(
      process.execPath,
      ['--experimental-websocket', '--no-warnings', '-e', PAGE, broker!.websocketUrl!],
      { cwd: root, timeout: 30_000 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`${error.message}\n${stdout}\n${stderr}`));
        else resolve(stdout);
      },
    );
  });
  expect(JSON.parse(out)).toEqual({ accepted: 5, received: Array.from({ length: 5 }, (_, i) => `quark ${i}`) });
  await expect(Promise.all(sends)).resolves.toEqual(Array.from({ length: 5 }, () => ({ kind: 'accepted' })));
  // The page's accepts reached the broker: nothing of to-page is left, delivered or not.
  expect(broker.queues().find((q) => q.address === 'to-page')).toMatchObject({ depth: 0, inFlight: 0 });
  const receiver = await quark.createReceiver('from-page');
  const bodies: unknown[] = [];
  for (let i = 0; i < 5; i++) {
    const delivery = await receiver.receive({ timeout: 5000 });
    bodies.push(delivery.message.body);
    delivery.accept();
  }
  expect(bodies).toEqual(Array.from({ length: 5 }, (_, i) => `page ${i}`));
  await quark.close();
});
