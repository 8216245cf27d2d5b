// An RxJS pipeline with real backpressure and at-least-once forwarding: orders come from
// `receiver.deliveries$()` on a receiver made with `maxUnsettled` (credit is granted only as
// deliveries are settled, so the pipeline never holds more than that), test orders are filtered
// out, each other order is mapped to an invoice and sent with `forwardTo()`, and an order is
// accepted only once the broker has accepted its invoice (if that send fails, the order is released
// and will be delivered again, so nothing is lost between the two queues).
//
//   node samples/rx-pipeline.mjs [amqp://localhost:5672/orders] [--count 20] [--max-unsettled 5]
//
// Without a URL it starts an embedded broker in this process (and uses the queue `orders`). It
// first sends --count orders (every 5th a test order), and at the end takes the invoices back from
// the queue `invoices`.
import { filter, lastValueFrom, map, take, tap } from 'rxjs';
import { connect, forwardTo, startBroker } from '../dist/esm/index.js';
import { parseOptions } from './tutorial-common.mjs';
import { exitOnAmqpError } from './one-line-errors.mjs';

exitOnAmqpError('rx-pipeline.mjs');

const opts = parseOptions('rx-pipeline.mjs [URL] [--count N] [--max-unsettled M]', {
  count: 20,
  extra: { 'max-unsettled': { type: 'string' } },
});
const maxUnsettled = Number(opts.values['max-unsettled'] ?? 5);
if (!Number.isInteger(maxUnsettled) || maxUnsettled < 1) {
  console.error(`--max-unsettled must be a whole number of at least 1, got ${opts.values['max-unsettled']}`);
  process.exit(2);
}
const broker = opts.urlGiven ? undefined : await startBroker({ port: 0 });
const url = broker?.url ?? opts.url;
const address = opts.urlGiven ? opts.address : 'orders';
if (broker) console.log(`started an embedded broker at ${broker.url}`);

const connection = await connect(url);
try {
  const sender = await connection.createSender(address);
  for (let id = 1; id <= opts.count; id++) await sender.send({ body: { id, total: id * 10, test: id % 5 === 0 } });
  await sender.close();
  console.log(`sent ${opts.count} orders to ${address}`);

  const orders = await connection.createReceiver(address, { maxUnsettled });
  const invoices = await connection.createSender('invoices');
  let mostUnsettled = 0;
  let dropped = 0;
  let forwarded = 0;
  await lastValueFrom(
    orders.deliveries$().pipe(
      take(opts.count),
      tap(() => (mostUnsettled = Math.max(mostUnsettled, orders.unsettled))),
      filter((delivery) => {
        if (!delivery.message.body.test) return true;
        delivery.accept(); // a message left out must still be settled
        dropped++;
        return false;
      }),
      map((delivery) => {
        const { id, total } = delivery.message.body;
        return { delivery, invoice: { orderId: id, amount: Math.round(total * 1.2 * 100) / 100 } };
      }),
      forwardTo(invoices, ({ invoice }) => ({ subject: 'invoice', body: invoice })),
      tap(({ item, error }) => {
        if (error) {
          console.log(`order ${item.invoice.orderId}: invoice not sent (${error.message}); order released`);
          item.delivery.release();
        } else {
          console.log(
            `order ${item.invoice.orderId}: invoice of ${item.invoice.amount} accepted downstream; order accepted`,
          );
          item.delivery.accept();
          forwarded++;
        }
      }),
    ),
    { defaultValue: undefined },
  );
  console.log(
    `forwarded ${forwarded} invoices, dropped ${dropped} test orders; at most ${mostUnsettled} orders were unsettled at once (maxUnsettled ${maxUnsettled})`,
  );
  await orders.close();

  // The other end: take the invoices (a for-await receiver would do the same).
  const invoiceReceiver = await connection.createReceiver('invoices');
  const amounts = [];
  for (let i = 0; i < forwarded; i++) {
    const delivery = await invoiceReceiver.receive({ timeout: 5000 });
    amounts.push(delivery.message.body.amount);
    delivery.accept();
  }
  console.log(`took ${amounts.length} invoices from invoices, totalling ${amounts.reduce((a, b) => a + b, 0)}`);
} finally {
  await connection.close();
  await broker?.close();
}
