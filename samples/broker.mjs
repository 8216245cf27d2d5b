// A small broker: Qpid Proton's broker.py, built on Quark's listen() (not the embedded broker).
// Queues by address, made on first use; a queue's consumers compete for its messages (each message
// goes to one of them); a receiver with a dynamic source gets a queue of its own. Messages are kept
// in memory only, and one that a consumer does not accept (or whose link goes away) goes back to
// the front of its queue.
//
//   node samples/broker.mjs [amqp://localhost:5672]
//
// Port 0 picks a free port; the broker prints where it listens, then runs until Ctrl-C (or SIGTERM).
import { randomUUID } from 'node:crypto';
import { listen } from '../dist/esm/index.js';
import { parseOptions } from './tutorial-common.mjs';
import { exitOnAmqpError } from './one-line-errors.mjs';

exitOnAmqpError('broker.mjs');

class Queue {
  constructor(dynamic = false) {
    this.dynamic = dynamic;
    this.messages = [];
    this.waiting = []; // consumers waiting for a message, first come first served
  }

  publish(message) {
    const next = this.waiting.shift();
    if (next) next(message);
    else this.messages.push(message);
  }

  /** Puts back a message that was not consumed, at the front. */
  putBack(message) {
    const next = this.waiting.shift();
    if (next) next(message);
    else this.messages.unshift(message);
  }

  take() {
    if (this.messages.length > 0) return Promise.resolve(this.messages.shift());
    return new Promise((resolve) => this.waiting.push(resolve));
  }
}

class Broker {
  constructor() {
    this.queues = new Map();
  }

  queue(address) {
    let q = this.queues.get(address);
    if (!q) {
      q = new Queue();
      this.queues.set(address, q);
    }
    return q;
  }

  /** A peer receives from `address`: hand it the queue's messages, one at a time, as it gives credit. */
  async consume(sender, address) {
    const q = this.queue(address);
    while (sender.isOpen) {
      const message = await q.take();
      if (!sender.isOpen) {
        q.putBack(message);
        break;
      }
      try {
        const outcome = await sender.send(message);
        if (outcome?.kind !== 'accepted' && outcome?.kind !== 'rejected') q.putBack(message);
      } catch {
        q.putBack(message); // the link or connection went away before the consumer took it
      }
    }
    if (q.dynamic && this.queues.get(address) === q) this.queues.delete(address);
  }

  /** A peer sends: each message goes to the queue of the link's target address, or of its `to`. */
  async produce(receiver, address) {
    try {
      for await (const delivery of receiver) {
        const to = address ?? delivery.message.to;
        if (to === undefined) {
          delivery.reject({ condition: 'amqp:precondition-failed', description: 'no address' });
          continue;
        }
        this.queue(to).publish(delivery.message);
        delivery.accept();
      }
    } catch {
      // the peer went away
    }
  }

  onLink(link) {
    if (link.coordinator) {
      link.refuse({ condition: 'amqp:not-implemented', description: 'this broker has no transactions' });
    } else if (link.role === 'sender') {
      // The peer receives.
      if (link.dynamic) {
        const address = randomUUID();
        this.queues.set(address, new Queue(true));
        void this.consume(link.acceptAsSender({ address }), address);
      } else if (link.address) {
        void this.consume(link.acceptAsSender(), link.address);
      } else {
        link.refuse({ condition: 'amqp:invalid-field', description: 'a source address is needed' });
      }
    } else {
      void this.produce(link.acceptAsReceiver({ credit: 10 }), link.address);
    }
  }
}

const opts = parseOptions('broker.mjs [amqp://localhost:5672]');
const listener = await listen({ host: opts.host, port: opts.port });
console.log(`broker listening on ${listener.url}`);
const broker = new Broker();
const stop = () => void listener.close().then(() => process.exit(0));
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
for await (const link of listener) broker.onLink(link);
