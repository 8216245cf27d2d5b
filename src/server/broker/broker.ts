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
import { rxjs } from '../../runtime/rxjs-module.js';
import type { Receiver } from '../../client/receiver.js';
import type { Sender } from '../../client/sender.js';
import { closedByPeer, settleWith, transferStateOf, withdrawCredit } from '../../client/listening-side.js';
import type { IncomingLink } from '../incoming-link.js';
import { SaslUsers } from '../../engine/scram.js';
import { listen, type Listener, type SaslCredentials } from '../listener.js';
import type { WebSocketListenOptions } from '../websocket-endpoint.js';
import { ANONYMOUS_USER, Permissions, type AddressPermissions } from './permissions.js';
import { Queue, selects, type Consumer, type QueueLimits, type StoredMessage } from './queue.js';
import { SELECTOR_FILTER, SELECTOR_FILTER_CODE, SelectorError, compileSelector, type Selector } from './selector.js';
import { Described, Typed } from '../../codec/values.js';
import type { Fields } from '../../codec/composite-types.js';
import { StoreBudget } from './store-budget.js';
import { refuseUnknownOptions } from '../../runtime/known-options.js';
import { TransactionCoordinator, heldState } from './transactions.js';
import type { Delivery } from '../../client/delivery.js';
import { InvalidArgumentError } from '../../errors.js';
import type { CallOptions } from '../../client/cancellation.js';

const log = debugLog('quark:broker');

/** Options of {@link startBroker}. */
export interface BrokerOptions {
  /** Default `127.0.0.1`. */
  host?: string | undefined;
  /** Default 5672; 0 picks a free port (see `broker.port`). */
  port?: number | undefined;
  /**
   * Users who may log in, as `{ name: password }` or a `SaslUsers` of salted keys. The broker
   * keeps only salted keys (the passwords are forgotten at start) and offers SCRAM-SHA-512,
   * SCRAM-SHA-256, SCRAM-SHA-1 and PLAIN (PLAIN only over TLS or to loopback clients). When set,
   * ANONYMOUS is refused unless `allowAnonymous` is true.
   */
  users?: Readonly<Record<string, string>> | SaslUsers | undefined;
  /**
   * Who may send to and receive from which addresses, per user name (a client certificate's
   * common name for EXTERNAL; `anonymous` for ANONYMOUS and clients without SASL). Patterns use
   * `*` for any run of characters. An attach that is not permitted is refused with
   * `amqp:unauthorized-access`. Default: everyone may do everything.
   *
   * @example
   * permissions: { alice: { send: ['orders'], receive: ['replies.*'], dynamic: true }, anonymous: { receive: ['public'] } }
   */
  permissions?: Readonly<Record<string, AddressPermissions>> | undefined;
  /** Accept SASL ANONYMOUS, and clients that skip SASL. Default: true when no `users` are given. */
  allowAnonymous?: boolean | undefined;
  /** Offer PLAIN without TLS to clients on other machines. Default false: without TLS, PLAIN is offered only to clients on loopback addresses. */
  allowInsecurePlain?: boolean | undefined;
  /** Serve TLS with these options (key, cert, ...), on TCP and on WebSocket alike. */
  tls?: tls.TlsOptions | undefined;
  /**
   * Also serve AMQP over WebSocket (needs the optional `ws` package), e.g. `{ port: 5673 }` or
   * `{ port: 0, path: '/amqp' }`; see `broker.websocketUrl`. Same users, permissions, TLS and
   * limits as on TCP. See `listen()`.
   */
  websocket?: WebSocketListenOptions | undefined;
  /** Messages a queue (or topic subscription) holds, delivered or not, before producers get no more credit. Default 10000. */
  queueLimit?: number | undefined;
  /** Bytes a queue (or topic subscription) holds, delivered or not (payloads plus 128 per message), before producers get no more credit. Default 64 MiB. */
  queueByteLimit?: number | undefined;
  /**
   * Bytes all queues hold together. Once reached, no producer gets more credit and messages
   * still arriving are rejected with `amqp:resource-limit-exceeded`, until consumers make room.
   * Default 256 MiB.
   */
  storeByteLimit?: number | undefined;
  /** Queues (and topic subscriptions) at once; an attach that needs one more is refused with `amqp:resource-limit-exceeded`. Empty queues with no links are forgotten. Default 10000. */
  maxQueues?: number | undefined;
  /** The largest message producers may send, in bytes (advertised in the attach; a larger one closes the link). Default 128 MiB, as RabbitMQ. */
  maxMessageSize?: number | undefined;
  /** Connections at once, in all and per client address. Default 10000 and 1000. See `listen()`. */
  maxConnections?: number | undefined;
  /** Connections at once from one client address. Default 1000. */
  maxConnectionsPerAddress?: number | undefined;
  /** Where rejected messages go. Default: they are dropped. */
  deadLetterAddress?: string | undefined;
  /** Milliseconds a client has to open its connection before it is dropped. Default 10000; 0 for none. */
  handshakeTimeout?: number | undefined;
  /** Milliseconds a refused login waits for its answer (password guessing is slow). Default 1000; 0 for none. */
  failedLoginDelay?: number | undefined;
  /** Per connection: the highest session channel (default 255), link handle per session (default 1023), links attached at once (default 1024). See `listen()`. */
  channelMax?: number | undefined;
  /** The highest link handle a client may use on a session. Default 1023. */
  handleMax?: number | undefined;
  /** Links a connection may have attached at once. Default 1024. */
  maxLinksPerConnection?: number | undefined;
  /**
   * Cancels the start while the port is being bound: `startBroker()` rejects with an
   * `AbortError` (a `TimeoutError` for `AbortSignal.timeout()`) and nothing is left listening. A
   * signal already aborted is refused before anything is bound. It has no effect once the broker
   * has started: stop it with `close()`.
   */
  signal?: AbortSignal | undefined;
}

/** What a queue holds now. */
export interface QueueStats {
  /** The queue's address. */
  address: string;
  /** Messages stored and not yet delivered. */
  depth: number;
  /** Messages delivered to a consumer and not yet settled. */
  inFlight: number;
  /** Receiving links attached to the queue. */
  consumers: number;
}

const TOPIC_PREFIX = 'topic://';
const DEFAULT_QUEUE_LIMIT = 10_000;
const DEFAULT_QUEUE_BYTE_LIMIT = 64 * 1024 * 1024;
const DEFAULT_STORE_BYTE_LIMIT = 256 * 1024 * 1024;
const DEFAULT_MAX_QUEUES = 10_000;
const DEFAULT_MAX_MESSAGE_SIZE = 128 * 1024 * 1024;

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
  readonly #limits: QueueLimits;
  readonly #budget: StoreBudget;
  readonly #maxQueues: number;
  readonly #maxMessageSize: number;
  readonly #permissions: Permissions | undefined;
  /** Transactions declared by clients, and the work they hold. */
  readonly #transactions = new TransactionCoordinator();
  /** Durable topic subscriptions, by client container id, link name and address. */
  readonly #durableSubscriptions = new Map<string, Queue>();
  /** How to top up each anonymous-relay producer (when the store has room again). */
  readonly #relays = new Set<() => void>();
  readonly #relayWithdrawals = new Set<() => void>();
  /** Topic subscriptions, counted with queues against maxQueues. */
  #subscriptionCount = 0;
  #stopped = false;

  /** @internal Use `startBroker()`. */
  constructor(listener: Listener, options: BrokerOptions, permissions: Permissions | undefined) {
    this.#listener = listener;
    this.#options = options;
    this.#limits = {
      messages: options.queueLimit ?? DEFAULT_QUEUE_LIMIT,
      bytes: options.queueByteLimit ?? DEFAULT_QUEUE_BYTE_LIMIT,
    };
    this.#budget = new StoreBudget(options.storeByteLimit ?? DEFAULT_STORE_BYTE_LIMIT);
    this.#maxQueues = options.maxQueues ?? DEFAULT_MAX_QUEUES;
    this.#maxMessageSize = options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
    this.#permissions = permissions;
    // The store had no room, and now has: every queue's producers may get credit again.
    this.#budget.onFull = () => {
      for (const q of this.#queues.values()) q.withdrawCredit();
      for (const topic of this.#topics.values()) for (const q of topic.subscriptions) q.withdrawCredit();
      for (const withdraw of this.#relayWithdrawals) withdraw();
    };
    this.#budget.onRoom = () => {
      for (const topUp of this.#relays) topUp();
      for (const q of this.#queues.values()) q.topUpProducers();
      for (const topic of this.#topics.values()) for (const topUp of topic.publishers) topUp();
    };
    listener.links$.subscribe((link) => this.#onLink(link));
  }

  /** How many client connections the broker has now (open, or still opening). */
  get connectionCount(): number {
    return this.#listener.connections.length;
  }

  /** The WebSocket URL (ws:// or wss://) clients can connect to, when the broker serves WebSocket. */
  get websocketUrl(): string | undefined {
    return this.#listener.websocketUrl;
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
    const stats = [...this.#queues.values()].map((q) => ({
      address: q.address,
      depth: q.depth,
      inFlight: q.inFlight,
      consumers: q.consumerCount,
    }));
    for (const [address, topic] of this.#topics) {
      for (const q of topic.subscriptions)
        stats.push({ address, depth: q.depth, inFlight: q.inFlight, consumers: q.consumerCount });
    }
    return stats;
  }

  /** What the queue (or the first subscription of the topic) at `address` holds now; undefined if there is none. */
  queue(address: string): QueueStats | undefined {
    return this.queues().find((q) => q.address === address);
  }

  /** Bytes of messages all queues hold now (payloads plus 128 per message), against `storeByteLimit`. */
  get storedBytes(): number {
    return this.#budget.bytes;
  }

  /** The queue at `address`, made on first use; a string saying why when it cannot be made (maxQueues). */
  #queue(address: string): Queue | string {
    let q = this.#queues.get(address);
    if (!q) {
      const made = this.#newQueue(address, this.#deadLetterSink);
      if (typeof made === 'string') return made;
      q = made;
      this.#queues.set(address, q);
    }
    return q;
  }

  #newQueue(address: string, deadLetter: ((message: StoredMessage, from: Queue) => void) | undefined): Queue | string {
    if (this.#queues.size + this.#subscriptionCount >= this.#maxQueues) {
      // Empty queues nobody uses are forgotten first (they are made again on use), so that
      // addresses a client invents cannot fill the broker.
      for (const [name, q] of this.#queues) if (q.idle) this.#queues.delete(name);
    }
    if (this.#queues.size + this.#subscriptionCount >= this.#maxQueues) {
      return `the broker has ${this.#maxQueues} queues and subscriptions, its limit (maxQueues); remove some first`;
    }
    const queue = new Queue(address, this.#limits, this.#budget, deadLetter);
    // A consumer's accept in a transaction: applied when it commits, undone when it rolls back.
    queue.onTransactionalAccept = (state, connection, commit, rollback) => {
      const txn = this.#transactions.transactionOf(state, connection);
      if (!txn) return false;
      this.#transactions.hold(txn, { commit, rollback });
      return true;
    };
    return queue;
  }

  /** The user name that permissions apply to. */
  #userOf(link: IncomingLink): string {
    const auth = link.connection.authentication;
    return auth?.username ?? ANONYMOUS_USER;
  }

  /** Refuses the link and returns false when its user may not do this; true when allowed. */
  #permitted(link: IncomingLink, what: 'send' | 'receive' | 'dynamic', address: string | undefined): boolean {
    const permissions = this.#permissions;
    if (!permissions) return true;
    const user = this.#userOf(link);
    const ok =
      what === 'dynamic'
        ? permissions.mayCreateDynamic(user)
        : address === undefined
          ? what === 'send' // the anonymous relay: checked message by message
          : what === 'send'
            ? permissions.maySend(user, address)
            : permissions.mayReceive(user, address);
    if (!ok) {
      const description =
        what === 'dynamic'
          ? `user ${user} may not create dynamic nodes`
          : `user ${user} may not ${what === 'send' ? 'send to' : 'receive from'} ${address}`;
      link.refuse({ condition: 'amqp:unauthorized-access', description });
    }
    return ok;
  }

  readonly #deadLetterSink = (message: StoredMessage, from: Queue): void => {
    const dla = this.#options.deadLetterAddress;
    if (dla === undefined || dla === from.address) return;
    const target = this.#queue(dla);
    if (typeof target !== 'string' && target.hasRoom) target.enqueue(message.payload, message.deliveryCount);
    else
      log(
        'dead-letter queue %s is full: dropped a rejected message from %s (%s)',
        dla,
        from.address,
        typeof target === 'string' ? target : target.fullBecause,
      );
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
    if (link.coordinator) {
      this.#transactions.serve(link.acceptAsReceiver({ credit: 0, settleFirst: true }), link.connection);
      return;
    }
    const target = link.target;
    let address = target?.address;
    if (target?.dynamic) {
      if (!this.#permitted(link, 'dynamic', undefined)) return;
      address = `temp-queue://${crypto.randomUUID()}`;
    } else if (!this.#permitted(link, 'send', address)) return;
    const user = this.#userOf(link);
    const isTopic = address !== undefined && this.#isTopic(address, target?.capabilities);
    const queue = address === undefined || isTopic ? undefined : this.#queue(address);
    if (typeof queue === 'string') {
      link.refuse({ condition: 'amqp:resource-limit-exceeded', description: queue });
      return;
    }
    // Settled as soon as stored (mode first), so a producer cannot make the broker hold a record per unsettled message.
    const receiver = link.acceptAsReceiver({
      credit: 0,
      address,
      maxMessageSize: this.#maxMessageSize,
      settleFirst: true,
    });
    if (address === undefined) {
      this.#relay(receiver, user);
      return;
    }
    if (isTopic || !queue) {
      this.#publishToTopic(receiver, address);
      return;
    }
    queue.addProducer(receiver);
    receiver.onClosed(() => queue.removeProducer(receiver));
    receiver.deliveries$().subscribe({
      next: (delivery) => {
        // Sent on credit given before a limit was reached (or by a peer that overshoots it): refused, not stored.
        const full = queue.fullBecause;
        if (full !== undefined) {
          delivery.reject({ condition: 'amqp:resource-limit-exceeded', description: full });
          return;
        }
        // Copied, so that a stored message does not keep its whole socket chunk alive.
        this.#store(delivery, (payload) => queue.enqueue(payload));
        queue.topUpProducers();
      },
      error: () => undefined,
    });
  }

  /**
   * Stores what a producer sent (a copy, so that it does not keep its socket chunk alive) and
   * accepts it; sent in a transaction, it is held until the transaction commits (and answered
   * with the outcome it will have); in a transaction that is not open, it is refused.
   */
  #store(delivery: Delivery, store: (payload: Uint8Array) => void): void {
    const payload = Uint8Array.prototype.slice.call(delivery.payload);
    const txn = this.#transactions.transactionOf(transferStateOf(delivery), delivery.receiver.session.connection);
    if (txn === null) {
      delivery.reject({
        condition: 'amqp:transaction:unknown-id',
        description: 'the message was sent in a transaction that is not open on this connection',
      });
      return;
    }
    if (txn === undefined) {
      store(payload);
      if (!delivery.settled) delivery.accept();
      return;
    }
    this.#transactions.hold(txn, { commit: () => store(payload), rollback: () => undefined });
    if (!delivery.settled) settleWith(delivery, heldState(txn.id));
  }

  /** Why a message to the topic cannot be taken now (a subscription is full), or undefined. */
  #topicFullBecause(topic: Topic): string | undefined {
    for (const q of topic.subscriptions) {
      const why = q.fullBecause;
      if (why !== undefined) return `a subscription of ${q.address}: ${why}`;
    }
    return undefined;
  }

  /** A topic with no subscriber and no publisher is forgotten (topic addresses a client invents do not pile up). */
  #forgetTopicIfUnused(address: string, topic: Topic): void {
    if (topic.subscriptions.size === 0 && topic.publishers.size === 0 && this.#topics.get(address) === topic)
      this.#topics.delete(address);
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
    receiver.onClosed(() => {
      topic.publishers.delete(topUp);
      this.#forgetTopicIfUnused(address, topic);
    });
    receiver.deliveries$().subscribe({
      next: (delivery) => {
        const full = this.#topicFullBecause(topic);
        if (full !== undefined) {
          delivery.reject({ condition: 'amqp:resource-limit-exceeded', description: full });
          return;
        }
        this.#store(delivery, (payload) => enqueueSelected(topic.subscriptions, payload));
        topUp();
      },
      error: () => undefined,
    });
    topUp();
  }

  /** An anonymous-relay producer: each message's `to` picks the queue or topic (and is checked against the user's permissions). */
  #relay(receiver: Receiver, user: string): void {
    // Credit while the store has room (the queue a message goes to is known only once it arrives).
    const topUp = (): void => {
      if (receiver.credit < 50 && receiver.isOpen && !this.#budget.full) receiver.addCredit(100 - receiver.credit);
    };
    const withdraw = (): void => {
      if (receiver.isOpen && receiver.credit > 0) withdrawCredit(receiver);
    };
    this.#relays.add(topUp);
    this.#relayWithdrawals.add(withdraw);
    receiver.onClosed(() => {
      this.#relays.delete(topUp);
      this.#relayWithdrawals.delete(withdraw);
    });
    receiver.deliveries$().subscribe({
      next: (delivery) => {
        let to: string | undefined;
        try {
          to = delivery.message.to;
        } catch {
          to = undefined;
        }
        if (to === undefined) {
          delivery.reject({
            condition: 'amqp:precondition-failed',
            description: 'a message sent to the anonymous relay needs a `to` address',
          });
        } else if (this.#permissions && !this.#permissions.maySend(user, to)) {
          delivery.reject({ condition: 'amqp:unauthorized-access', description: `user ${user} may not send to ${to}` });
        } else if (this.#isTopic(to, undefined)) {
          const topic = this.#topics.get(to);
          const full = topic && this.#topicFullBecause(topic);
          if (full !== undefined) delivery.reject({ condition: 'amqp:resource-limit-exceeded', description: full });
          else {
            this.#store(delivery, (payload) => topic && enqueueSelected(topic.subscriptions, payload));
          }
        } else {
          // A full store refuses before a queue is made for the address.
          const queue = this.#budget.full
            ? `the broker holds ${this.#budget.bytes} bytes of messages, its limit (storeByteLimit)`
            : this.#queue(to);
          const full = typeof queue === 'string' ? queue : queue.fullBecause;
          if (full !== undefined || typeof queue === 'string') {
            delivery.reject({ condition: 'amqp:resource-limit-exceeded', description: full });
          } else {
            this.#store(delivery, (payload) => queue.enqueue(payload));
          }
        }
        topUp();
      },
      error: () => undefined,
    });
    topUp();
  }

  /** A peer receives from us: a consumer of a queue, a browser, a topic subscriber, or a dynamic node. */
  #onConsumer(link: IncomingLink): void {
    const source = link.source;
    if (source?.dynamic) {
      if (!this.#permitted(link, 'dynamic', undefined)) return;
      const address = `temp-queue://${crypto.randomUUID()}`;
      const queue = this.#newQueue(address, this.#deadLetterSink);
      if (typeof queue === 'string') {
        link.refuse({ condition: 'amqp:resource-limit-exceeded', description: queue });
        return;
      }
      this.#queues.set(address, queue);
      const sender = link.acceptAsSender({ address });
      this.#consume(queue, sender, false, undefined, () => {
        queue.clear();
        this.#queues.delete(address);
      });
      return;
    }
    const address = source?.address;
    if (address === undefined) {
      link.refuse({
        condition: 'amqp:invalid-field',
        description: 'a receiver needs a source address (or a dynamic source)',
      });
      return;
    }
    if (!this.#permitted(link, 'receive', address)) return;
    const filtering = selectorFilter(source?.filter);
    if (typeof filtering === 'string') {
      link.refuse({ condition: 'amqp:invalid-field', description: filtering });
      return;
    }
    const { selector, applied } = filtering;
    if (this.#isTopic(address, source?.capabilities)) {
      // A durable subscription (durable terminus, expiry-policy never) is named by the client's
      // container id and the link name: it outlives detaches and lost connections, keeps what is
      // published meanwhile, and ends when the client closes the link.
      const durable = (source?.durable ?? 0) > 0 && source?.expiryPolicy === 'never';
      const key = durable
        ? `${String(link.connection.remoteOpen?.containerId ?? '')}\u0000${link.name}\u0000${address}`
        : undefined;
      const existing = key === undefined ? undefined : this.#durableSubscriptions.get(key);
      const subscription = existing ?? this.#newQueue(address, undefined);
      if (typeof subscription === 'string') {
        link.refuse({ condition: 'amqp:resource-limit-exceeded', description: subscription });
        return;
      }
      const topic = this.#topic(address);
      // Attached again with another selector, the subscription filters by it from now on: the
      // filter echoed below is the one in force.
      subscription.selector = selector;
      if (!existing) {
        this.#subscriptionCount++;
        topic.subscriptions.add(subscription);
        subscription.onRoom = () => {
          for (const topUp of topic.publishers) topUp();
        };
        if (key !== undefined) this.#durableSubscriptions.set(key, subscription);
      }
      const sender = link.acceptAsSender({ filter: applied });
      this.#consume(subscription, sender, false, undefined, () => {
        // Detached or disconnected, a durable subscription stays (and keeps receiving); closed, it ends.
        if (key !== undefined && !closedByPeer(sender)) return;
        if (key !== undefined) this.#durableSubscriptions.delete(key);
        subscription.clear();
        this.#subscriptionCount--;
        topic.subscriptions.delete(subscription);
        for (const topUp of topic.publishers) topUp();
        this.#forgetTopicIfUnused(address, topic);
      });
      return;
    }
    const queue = this.#queue(address);
    if (typeof queue === 'string') {
      link.refuse({ condition: 'amqp:resource-limit-exceeded', description: queue });
      return;
    }
    const sender = link.acceptAsSender({ filter: applied });
    this.#consume(queue, sender, source?.distributionMode === 'copy', selector, undefined);
  }

  #consume(
    queue: Queue,
    sender: Sender,
    browse: boolean,
    selector: Selector | undefined,
    onGone: (() => void) | undefined,
  ): void {
    const consumer: Consumer = { sender, browse, cursor: 0, selector };
    sender.onClosed(() => {
      queue.removeConsumer(consumer);
      onGone?.();
    });
    queue.addConsumer(consumer);
  }

  /**
   * Closes the broker: closes every connection (with `amqp:connection:forced`, so clients that
   * reconnect try again) and the listening socket. Messages in memory are dropped. Resolves once
   * every socket has closed.
   *
   * Cancelled by its signal or timeout (or given a signal already aborted), it stops waiting for
   * clients to answer the close: their sockets are destroyed at once, the messages are dropped
   * all the same, and it rejects with an `AbortError` (or `TimeoutError`) once every socket has
   * closed, so nothing is left behind either way.
   */
  async close(options?: CallOptions): Promise<void> {
    const closing = this.#listener.close(options);
    if (this.#stopped) return closing;
    this.#stopped = true;
    try {
      await closing;
    } finally {
      this.#dropMessages();
    }
  }

  /**
   * The old name of {@link Broker.close}, kept so that code written for Quark 0.1 previews runs.
   *
   * @deprecated Use `close()`, the name every other closable of Quark has.
   */
  stop(): Promise<void> {
    return this.close();
  }

  #dropMessages(): void {
    for (const q of this.#queues.values()) q.clear();
    for (const topic of this.#topics.values()) for (const q of topic.subscriptions) q.clear();
    this.#queues.clear();
    this.#topics.clear();
    this.#durableSubscriptions.clear();
    this.#transactions.clear();
  }

  /** Closes it: `await using` calls this when the block ends. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * Starts an embedded broker. Resolves once it listens; rejects with a `ListenError` when the
 * port cannot be bound, with an `InvalidArgumentError` for bad options, and with an
 * `AbortError` when `options.signal` fires first (nothing is left listening).
 *
 * @example
 * const broker = await startBroker({ port: 0 });
 * const conn = await connect(broker.url);
 */
export async function startBroker(options: BrokerOptions = {}): Promise<Broker> {
  checkBrokerOptions(options);
  rxjs('startBroker()'); // queues take messages through deliveries$(): without rxjs, fail here rather than at a producer's attach
  const permissions = options.permissions ? new Permissions(options.permissions) : undefined;
  const given = options.users;
  // Passwords are turned into salted keys here and not kept.
  const users = given === undefined ? undefined : given instanceof SaslUsers ? given : SaslUsers.fromPasswords(given);
  const allowAnonymous = options.allowAnonymous ?? users === undefined;
  // SCRAM variants the users lack keys for are left out by listen().
  const mechanisms = [
    'EXTERNAL',
    ...(users ? ['SCRAM-SHA-512', 'SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN'] : []),
    ...(allowAnonymous ? ['ANONYMOUS'] : []),
  ];
  const authenticate = (c: SaslCredentials): boolean => {
    if (c.mechanism === 'ANONYMOUS') return allowAnonymous;
    // A certificate TLS verified against tls.ca, acting as itself.
    if (c.mechanism === 'EXTERNAL')
      return c.username !== undefined && (c.authzid === undefined || c.authzid === c.username);
    return false;
  };
  const listener = await listen({
    host: options.host,
    port: options.port ?? 5672,
    tls: options.tls,
    websocket: options.websocket,
    sasl: { mechanisms, users, authenticate },
    allowInsecurePlain: options.allowInsecurePlain,
    handshakeTimeout: options.handshakeTimeout,
    failedLoginDelay: options.failedLoginDelay,
    channelMax: options.channelMax,
    handleMax: options.handleMax,
    maxLinksPerConnection: options.maxLinksPerConnection,
    maxConnections: options.maxConnections,
    maxConnectionsPerAddress: options.maxConnectionsPerAddress,
    // A client that skips SASL is anonymous: let it in exactly when ANONYMOUS is (as Proton's brokers do).
    allowNoSasl: allowAnonymous,
    offeredCapabilities: ['ANONYMOUS-RELAY'],
    signal: options.signal,
  });
  return new Broker(listener, options, permissions);
}

/** Each subscription of a topic gets the message, unless its selector does not take it. */
function enqueueSelected(subscriptions: Iterable<Queue>, payload: Uint8Array): void {
  let message: StoredMessage | undefined;
  for (const q of subscriptions) {
    if (q.selector !== undefined && !selects(q.selector, (message ??= { payload, deliveryCount: 0, seq: 0 }))) continue;
    q.enqueue(payload);
  }
}

/**
 * The selector of a receiver's source filter, and the filter entries the broker applies (to echo
 * in its attach). Filters it does not apply are left out of the echo, so the peer knows; a
 * selector that does not compile is refused (a string saying why).
 */
function selectorFilter(
  filter: Fields | undefined,
): { selector: Selector | undefined; applied: Fields | undefined } | string {
  if (filter === undefined) return { selector: undefined, applied: undefined };
  let selector: Selector | undefined;
  let applied: Fields | undefined;
  for (const [key, value] of Object.entries(filter)) {
    if (!(value instanceof Described)) continue;
    const d = value.descriptor;
    const descriptor = d instanceof Typed ? d.value : d;
    if (descriptor !== SELECTOR_FILTER && descriptor !== SELECTOR_FILTER_CODE) continue;
    if (typeof value.value !== 'string') return `the selector filter ${JSON.stringify(key)} must hold a string`;
    try {
      selector = compileSelector(value.value);
    } catch (e) {
      const at = e instanceof SelectorError ? ` at character ${e.position + 1}` : '';
      return `the selector ${JSON.stringify(value.value)} is not valid${at}: ${(e as Error).message}`;
    }
    applied = { [key]: value };
  }
  return { selector, applied };
}

/** The options startBroker() knows. */
const BROKER_OPTIONS: ReadonlySet<string> = new Set([
  'host',
  'port',
  'users',
  'permissions',
  'allowAnonymous',
  'allowInsecurePlain',
  'tls',
  'queueLimit',
  'queueByteLimit',
  'storeByteLimit',
  'maxQueues',
  'maxMessageSize',
  'maxConnections',
  'maxConnectionsPerAddress',
  'deadLetterAddress',
  'handshakeTimeout',
  'failedLoginDelay',
  'channelMax',
  'handleMax',
  'maxLinksPerConnection',
  'signal',
  'websocket',
]);

/** Refuses unknown options, and limits that are not positive whole numbers, naming the option. */
function checkBrokerOptions(options: BrokerOptions): void {
  refuseUnknownOptions(options, BROKER_OPTIONS, 'startBroker');
  const limits = ['queueLimit', 'queueByteLimit', 'storeByteLimit', 'maxQueues', 'maxMessageSize'] as const;
  for (const name of limits) {
    const value = options[name];
    if (value !== undefined && !(Number.isSafeInteger(value) && value >= 1))
      throw new InvalidArgumentError(`${name} must be a whole number of at least 1, got ${String(value)}`);
  }
}
