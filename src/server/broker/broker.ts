/**
 * The embedded broker: queues and topics in memory, for demos, tools, samples and tests. It is
 * built on `listen()` and the public link API, so it speaks AMQP exactly as Quark does.
 *
 * Addressing rule (as Apache Artemis and Qpid do): an address starting with `topic://`, or a
 * link whose terminus has the capability `topic`, is a topic (every subscriber gets every
 * message published after it subscribed); anything else is a queue, created on first use
 * (competing consumers; each message goes to one of them).
 */
import type tls from 'node:tls';
import { debugLog } from '../../runtime/debug-log.js';
import type { Receiver } from '../../client/receiver.js';
import type { Sender } from '../../client/sender.js';
import type { IncomingLink } from '../incoming-link.js';
import { listen, type Listener, type SaslCredentials } from '../listener.js';
import { Queue, type Consumer, type StoredMessage } from './queue.js';

const log = debugLog('quark:broker');

/** Options of {@link startBroker}. */
export interface BrokerOptions {
  /** Default `127.0.0.1`. */
  host?: string | undefined;
  /** Default 5672; 0 picks a free port (see `broker.port`). */
  port?: number | undefined;
  /**
   * Users allowed to log in with SASL PLAIN, as `{ name: password }`. When set, ANONYMOUS is
   * refused unless `allowAnonymous` is true.
   */
  users?: Record<string, string> | undefined;
  /** Accept SASL ANONYMOUS, and clients that skip SASL. Default: true when no `users` are given. */
  allowAnonymous?: boolean | undefined;
  /** Offer PLAIN without TLS to clients on other machines. Default false: without TLS, PLAIN is offered only to clients on loopback addresses. */
  allowInsecurePlain?: boolean | undefined;
  /** Serve TLS with these options (key, cert, ...). */
  tls?: tls.TlsOptions | undefined;
  /** Messages a queue (or topic subscription) holds, delivered or not, before producers get no more credit. Default 10000. */
  queueLimit?: number | undefined;
  /** Where rejected messages go. Default: they are dropped. */
  deadLetterAddress?: string | undefined;
  /** Milliseconds a client has to open its connection before it is dropped. Default 10000; 0 for none. */
  handshakeTimeout?: number | undefined;
  /** Milliseconds a refused login waits for its answer (password guessing is slow). Default 1000; 0 for none. */
  failedLoginDelay?: number | undefined;
  /** Per connection: the highest session channel (default 255), link handle per session (default 1023), links attached at once (default 1024). See `listen()`. */
  channelMax?: number | undefined;
  handleMax?: number | undefined;
  maxLinksPerConnection?: number | undefined;
}

/** What a queue holds now. */
export interface QueueStats {
  address: string;
  depth: number;
  inFlight: number;
  consumers: number;
}

const TOPIC_PREFIX = 'topic://';

/** A topic: one private queue per subscriber, and the credit top-up of each publisher. */
interface Topic {
  readonly subscriptions: Set<Queue>;
  readonly publishers: Set<() => void>;
}

/** A running embedded broker. */
export class Broker implements AsyncDisposable {
  readonly #listener: Listener;
  readonly #options: BrokerOptions;
  readonly #queues = new Map<string, Queue>();
  /** Topic address -> the private queue of each subscriber, and how to top up each publisher. */
  readonly #topics = new Map<string, Topic>();
  readonly #limit: number;
  #stopped = false;

  /** @internal Use `startBroker()`. */
  constructor(listener: Listener, options: BrokerOptions) {
    this.#listener = listener;
    this.#options = options;
    this.#limit = options.queueLimit ?? 10000;
    listener.links$.subscribe((link) => this.#onLink(link));
  }

  /** How many client connections the broker has now (open, or still opening). */
  get connectionCount(): number {
    return this.#listener.connections.length;
  }

  /** The port the broker listens on. */
  get port(): number {
    return this.#listener.port;
  }

  /** A URL clients connect to, e.g. `amqp://127.0.0.1:5672`. */
  get url(): string {
    return this.#listener.url;
  }

  /** What each queue holds now (topic subscriptions are listed under their topic address). */
  queues(): QueueStats[] {
    const stats = [...this.#queues.values()].map((q) => ({ address: q.address, depth: q.depth, inFlight: q.inFlight, consumers: q.consumerCount }));
    for (const [address, topic] of this.#topics) {
      for (const q of topic.subscriptions) stats.push({ address, depth: q.depth, inFlight: q.inFlight, consumers: q.consumerCount });
    }
    return stats;
  }

  /** What the queue (or the first subscription of the topic) at `address` holds now; undefined if there is none. */
  queue(address: string): QueueStats | undefined {
    return this.queues().find((q) => q.address === address);
  }

  /** The queue at `address`, made on first use. */
  #queue(address: string): Queue {
    let q = this.#queues.get(address);
    if (!q) {
      q = new Queue(address, this.#limit, this.#deadLetterSink);
      this.#queues.set(address, q);
    }
    return q;
  }

  readonly #deadLetterSink = (message: StoredMessage, from: Queue): void => {
    const dla = this.#options.deadLetterAddress;
    if (dla === undefined || dla === from.address) return;
    const target = this.#queue(dla);
    if (target.hasRoom) target.enqueue(message.payload, message.deliveryCount);
    else log('dead-letter queue %s is full: dropped a rejected message from %s', dla, from.address);
  };

  #topic(address: string): Topic {
    let topic = this.#topics.get(address);
    if (!topic) this.#topics.set(address, (topic = { subscriptions: new Set(), publishers: new Set() }));
    return topic;
  }

  #isTopic(address: string | undefined, capabilities: string[] | undefined): boolean {
    return (address?.startsWith(TOPIC_PREFIX) ?? false) || (capabilities?.includes('topic') ?? false);
  }

  #onLink(link: IncomingLink): void {
    if (this.#stopped) {
      link.refuse({ condition: 'amqp:connection:forced', description: 'the broker is stopping' });
      return;
    }
    try {
      if (link.role === 'receiver') this.#onProducer(link);
      else this.#onConsumer(link);
    } catch (e) {
      log('link %s failed: %s', link.name, (e as Error).message);
    }
  }

  /** A peer sends to us: a producer to a queue, a topic, or (no target address) any address per message. */
  #onProducer(link: IncomingLink): void {
    const target = link.target;
    let address = target?.address;
    if (target?.dynamic) address = `temp-queue://${crypto.randomUUID()}`;
    const receiver = link.acceptAsReceiver({ credit: 0, address });
    if (address === undefined) {
      this.#relay(receiver);
      return;
    }
    if (this.#isTopic(address, target?.capabilities)) {
      this.#publishToTopic(receiver, address);
      return;
    }
    const queue = this.#queue(address);
    queue.addProducer(receiver);
    receiver.closedListener = () => queue.removeProducer(receiver);
    receiver.deliveries$().subscribe({
      next: (delivery) => {
        // Copied, so that a stored message does not keep its whole socket chunk alive.
        queue.enqueue(Uint8Array.prototype.slice.call(delivery.payload));
        if (!delivery.settled) delivery.accept();
        queue.topUpProducers();
      },
      error: () => undefined,
    });
  }

  #publishToTopic(receiver: Receiver, address: string): void {
    const topic = this.#topic(address);
    const topUp = (): void => {
      // A publisher goes as fast as the slowest subscriber takes (no subscriber: messages are dropped).
      let room = 100;
      for (const q of topic.subscriptions) room = Math.min(room, q.capacity);
      const want = Math.max(0, Math.min(100 - receiver.credit, room));
      if (want > 0 && receiver.isOpen) receiver.addCredit(want);
    };
    topic.publishers.add(topUp);
    receiver.closedListener = () => topic.publishers.delete(topUp);
    receiver.deliveries$().subscribe({
      next: (delivery) => {
        const payload = Uint8Array.prototype.slice.call(delivery.payload);
        for (const q of topic.subscriptions) q.enqueue(payload);
        if (!delivery.settled) delivery.accept();
        topUp();
      },
      error: () => undefined,
    });
    topUp();
  }

  /** An anonymous-relay producer: each message's `to` picks the queue or topic. */
  #relay(receiver: Receiver): void {
    receiver.deliveries$().subscribe({
      next: (delivery) => {
        let to: string | undefined;
        try {
          to = delivery.message.to;
        } catch {
          to = undefined;
        }
        if (to === undefined) {
          delivery.reject({ condition: 'amqp:precondition-failed', description: 'a message sent to the anonymous relay needs a `to` address' });
        } else if (this.#isTopic(to, undefined)) {
          const payload = Uint8Array.prototype.slice.call(delivery.payload);
          for (const q of this.#topics.get(to)?.subscriptions ?? []) q.enqueue(payload);
          delivery.accept();
        } else {
          const queue = this.#queue(to);
          if (!queue.hasRoom) {
            delivery.reject({ condition: 'amqp:resource-limit-exceeded', description: `queue ${to} is full` });
          } else {
            queue.enqueue(Uint8Array.prototype.slice.call(delivery.payload));
            delivery.accept();
          }
        }
        if (receiver.credit < 50 && receiver.isOpen) receiver.addCredit(100 - receiver.credit);
      },
      error: () => undefined,
    });
    receiver.addCredit(100);
  }

  /** A peer receives from us: a consumer of a queue, a browser, a topic subscriber, or a dynamic node. */
  #onConsumer(link: IncomingLink): void {
    const source = link.source;
    if (source?.dynamic) {
      const address = `temp-queue://${crypto.randomUUID()}`;
      const queue = new Queue(address, this.#limit, this.#deadLetterSink);
      this.#queues.set(address, queue);
      const sender = link.acceptAsSender({ address });
      this.#consume(queue, sender, false, () => {
        queue.clear();
        this.#queues.delete(address);
      });
      return;
    }
    const address = source?.address;
    if (address === undefined) {
      link.refuse({ condition: 'amqp:invalid-field', description: 'a receiver needs a source address (or a dynamic source)' });
      return;
    }
    if (this.#isTopic(address, source?.capabilities)) {
      const subscription = new Queue(address, this.#limit, undefined);
      const topic = this.#topic(address);
      topic.subscriptions.add(subscription);
      subscription.onRoom = () => {
        for (const topUp of topic.publishers) topUp();
      };
      const sender = link.acceptAsSender();
      this.#consume(subscription, sender, false, () => {
        subscription.clear();
        topic.subscriptions.delete(subscription);
        for (const topUp of topic.publishers) topUp();
      });
      return;
    }
    const sender = link.acceptAsSender();
    this.#consume(this.#queue(address), sender, source?.distributionMode === 'copy', undefined);
  }

  #consume(queue: Queue, sender: Sender, browse: boolean, onGone: (() => void) | undefined): void {
    const consumer: Consumer = { sender, browse, cursor: 0 };
    sender.closedListener = () => {
      queue.removeConsumer(consumer);
      onGone?.();
    };
    queue.addConsumer(consumer);
  }

  /**
   * Stops the broker: closes every connection (with `amqp:connection:forced`, so clients that
   * reconnect try again) and the listening socket. Messages in memory are dropped.
   */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    await this.#listener.close();
    for (const q of this.#queues.values()) q.clear();
    for (const topic of this.#topics.values()) for (const q of topic.subscriptions) q.clear();
    this.#queues.clear();
    this.#topics.clear();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/**
 * Starts an embedded broker. Resolves once it listens; rejects when the port cannot be bound.
 *
 * @example
 * const broker = await startBroker({ port: 0 });
 * const conn = await connect(broker.url);
 */
export async function startBroker(options: BrokerOptions = {}): Promise<Broker> {
  const users = options.users;
  const allowAnonymous = options.allowAnonymous ?? users === undefined;
  const mechanisms = [...(users ? ['PLAIN'] : []), ...(allowAnonymous ? ['ANONYMOUS'] : [])];
  const authenticate = (c: SaslCredentials): boolean => {
    if (c.mechanism === 'ANONYMOUS') return allowAnonymous;
    if (c.mechanism === 'PLAIN') return users !== undefined && c.username !== undefined && Object.hasOwn(users, c.username) && users[c.username] === c.password;
    return false;
  };
  const listener = await listen({
    host: options.host,
    port: options.port ?? 5672,
    tls: options.tls,
    sasl: { mechanisms, authenticate },
    allowInsecurePlain: options.allowInsecurePlain,
    handshakeTimeout: options.handshakeTimeout,
    failedLoginDelay: options.failedLoginDelay,
    channelMax: options.channelMax,
    handleMax: options.handleMax,
    maxLinksPerConnection: options.maxLinksPerConnection,
    // A client that skips SASL is anonymous: let it in exactly when ANONYMOUS is (as Proton's brokers do).
    allowNoSasl: allowAnonymous,
    offeredCapabilities: ['ANONYMOUS-RELAY'],
  });
  return new Broker(listener, options);
}
