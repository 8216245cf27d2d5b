// The `npm start` demo: an embedded broker in this process, then the promise API, a for-await
// receiver and an RxJS pipeline sending and receiving through it. No other service is needed.
import { filter, firstValueFrom, map, range, take, toArray } from 'rxjs';
import { connect, sendTo, startBroker, symbol, ulong } from '../dist/esm/index.js';
import { exitOnAmqpError } from './one-line-errors.mjs';

exitOnAmqpError('demo.mjs');

const broker = await startBroker({ port: 0 });
console.log(`1. Embedded broker listening on ${broker.url}`);

const connection = await connect(broker.url);
connection.events$
  .pipe(filter((e) => e.type === 'closed'))
  .subscribe(() => console.log('   (events$: connection closed)'));
console.log(`2. Connected to the broker (container ${connection.remoteContainerId})`);

// Promise API: send() resolves when the broker has accepted the message.
const sender = await connection.createSender('orders');
const outcome = await sender.send({
  subject: 'new-order',
  messageId: ulong(1),
  applicationProperties: { region: 'eu', priority: 7, express: true },
  body: { id: 1, item: 'widget', quantity: 3, tags: [symbol('fragile')] },
});
console.log(`3. Sent an order; the broker settled it as ${outcome.kind}`);
for (let id = 2; id <= 5; id++) await sender.send({ subject: 'new-order', body: { id, item: 'gadget', quantity: id } });
console.log('   Sent orders 2 to 5');

// for await: take messages as they come, settle each.
const receiver = await connection.createReceiver('orders');
let seen = 0;
for await (const delivery of receiver) {
  const { body, applicationProperties } = delivery.message;
  console.log(
    `4. Received order ${body.id} (${body.quantity} x ${body.item})${applicationProperties ? `, properties ${JSON.stringify(applicationProperties)}` : ''}`,
  );
  delivery.accept();
  if (++seen === 5) break;
}

// RxJS: send what an Observable emits (backpressure through link credit), receive as an Observable.
const events = await connection.createSender('events');
const published = await firstValueFrom(
  range(1, 10).pipe(
    map((n) => ({ body: `event ${n}` })),
    sendTo(events),
    toArray(),
  ),
);
console.log(`5. RxJS: sent ${published.length} events through sendTo()`);
const eventReceiver = await connection.createReceiver('events');
const bodies = await firstValueFrom(
  eventReceiver.deliveries$().pipe(
    take(10),
    map((d) => {
      d.accept();
      return d.message.body;
    }),
    toArray(),
  ),
);
console.log(`6. RxJS: received ${bodies.length} events through deliveries$(): ${bodies.slice(0, 3).join(', ')}, ...`);

await connection.close();
await broker.close();
console.log('7. Closed the connection and stopped the broker. Done.');
