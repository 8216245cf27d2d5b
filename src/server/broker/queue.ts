/**
 * A broker queue: messages stored in order, competing consumers served in turn, at-least-once
 * delivery (a message leaves only when its consumer accepts or rejects it), browsing, and credit
 * for producers only while the queue is under its limit.
 */
import type { Receiver } from '../../client/receiver.js';
import type { Sender } from '../../client/sender.js';
import { withdrawCredit } from '../../client/listening-side.js';
import { decodeMessage, encodeMessage, type Message } from '../../codec/message.js';
import type { Selector } from './selector.js';
import type { DeliveryState } from '../../codec/composite-types.js';
import type { Connection } from '../../client/connection.js';
import { MESSAGE_OVERHEAD_BYTES, type StoreBudget } from './store-budget.js';
import { DeliveryModifiedError, DeliveryRejectedError, MessageSizeExceededError } from '../../errors.js';

/** A message held by the broker. */
export interface StoredMessage {
  /** The message bytes as the producer sent them (copied out of the socket buffer). */
  readonly payload: Uint8Array;
  /** Failed delivery attempts so far (from `modified` with delivery-failed). */
  deliveryCount: number;
  /** The payload with its header's delivery-count updated, made on first redelivery. */
  redeliveryPayload?: Uint8Array | undefined;
  /** Consumers that said `undeliverable-here`. */
  excluded?: Set<Consumer> | undefined;
  /** Position in the queue, for browsers. */
  seq: number;
  /** The message decoded (native values), made when a selector first needs it. */
  decoded?: Message | undefined;
}

/** Whether a consumer's selector (if any) takes the message; a message that cannot be decoded is selected by none. */
export function selects(selector: Selector | undefined, message: StoredMessage): boolean {
  if (selector === undefined) return true;
  try {
    return selector((message.decoded ??= decodeMessage(message.payload)));
  } catch {
    return false;
  }
}

/** A link taking messages from a queue. */
export interface Consumer {
  readonly sender: Sender;
  /** Browsing (distribution mode copy): gets copies, removes nothing. */
  readonly browse: boolean;
  /** Browsers: the sequence number of the next message to copy. */
  cursor: number;
  /** Only the messages this selects (a selector filter), when set. */
  readonly selector?: Selector | undefined;
  /** Stops listening for the sender's credit (set while the consumer is added). */
  stopSendable?: (() => void) | undefined;
}

/** Where rejected messages go, when the broker has a dead-letter address. */
export type DeadLetterSink = (message: StoredMessage, from: Queue) => void;

/** How many messages a producer may have in flight to one queue. */
const PRODUCER_WINDOW = 100;

/** What a queue may hold, delivered or not. */
export interface QueueLimits {
  /** Messages. */
  readonly messages: number;
  /** Bytes, payloads plus a fixed overhead per message. */
  readonly bytes: number;
}

const costOf = (message: StoredMessage): number => message.payload.length + MESSAGE_OVERHEAD_BYTES;

export class Queue {
  readonly address: string;
  /** Messages waiting for a consumer, oldest first. */
  readonly #messages: StoredMessage[] = [];
  #head = 0;
  /** Messages sent to consumers and not yet settled by them. */
  #inFlight = 0;
  #nextSeq = 0;
  readonly #consumers: Consumer[] = [];
  #turn = 0;
  readonly #producers = new Set<Receiver>();
  readonly #limits: QueueLimits;
  readonly #budget: StoreBudget;
  readonly #deadLetter: DeadLetterSink | undefined;
  /** Bytes held (waiting and in flight), overhead included. */
  #bytes = 0;
  /** A topic subscription's selector: messages it does not select are not enqueued (see the broker). */
  selector: Selector | undefined;
  /** Consumers with a selector (dispatch then looks past messages nobody selects). */
  #selective = 0;
  constructor(address: string, limits: QueueLimits, budget: StoreBudget, deadLetter: DeadLetterSink | undefined) {
    this.address = address;
    this.#limits = limits;
    this.#budget = budget;
    this.#deadLetter = deadLetter;
  }

  /** Bytes held, waiting or in flight (payloads plus a fixed overhead per message). */
  get bytes(): number {
    return this.#bytes;
  }

  /** Why the queue takes no more messages now (which limit is reached), or undefined when it has room. */
  get fullBecause(): string | undefined {
    if (this.depth + this.#inFlight >= this.#limits.messages)
      return `queue ${this.address} holds ${this.depth + this.#inFlight} messages, its limit (queueLimit)`;
    if (this.#bytes >= this.#limits.bytes)
      return `queue ${this.address} holds ${this.#bytes} bytes, its limit (queueByteLimit)`;
    if (this.#budget.full)
      return `the broker holds ${this.#budget.bytes} bytes of messages, its limit (storeByteLimit)`;
    return undefined;
  }

  /** True with no messages and no links: the queue can be forgotten (it is made again on use). */
  get idle(): boolean {
    return this.depth === 0 && this.#inFlight === 0 && this.#consumers.length === 0 && this.#producers.size === 0;
  }

  /** Messages stored and not yet delivered. */
  get depth(): number {
    return this.#messages.length - this.#head;
  }

  /** Messages delivered and awaiting their consumer's outcome. */
  get inFlight(): number {
    return this.#inFlight;
  }

  get consumerCount(): number {
    return this.#consumers.length;
  }

  /** Room left for messages, counting what producers may already send. */
  get capacity(): number {
    if (this.#bytes >= this.#limits.bytes || this.#budget.full) return 0;
    let promised = 0;
    for (const p of this.#producers) promised += p.credit;
    return this.#limits.messages - this.depth - this.#inFlight - promised;
  }

  /** Whether one more message fits under the limits. */
  get hasRoom(): boolean {
    return this.fullBecause === undefined;
  }

  /** Stores a message and hands it to a consumer if one can take it. */
  enqueue(payload: Uint8Array, deliveryCount = 0): void {
    const message: StoredMessage = { payload, deliveryCount, seq: this.#nextSeq++ };
    const cost = costOf(message);
    const hadRoom = this.#bytes < this.#limits.bytes;
    this.#bytes += cost;
    this.#budget.add(cost);
    this.#messages.push(message);
    // Credit counts messages, not bytes: once the byte limit is reached, what producers still hold is taken back.
    if (hadRoom && this.#bytes >= this.#limits.bytes) this.withdrawCredit();
    this.dispatch();
  }

  /** Takes back the credit this queue's producers hold (a byte limit was reached): fewer of their messages are refused. */
  withdrawCredit(): void {
    for (const p of this.#producers) if (p.isOpen && p.credit > 0) withdrawCredit(p);
  }

  addConsumer(consumer: Consumer): void {
    if (consumer.selector !== undefined) this.#selective++;
    this.#consumers.push(consumer);
    consumer.stopSendable = consumer.sender.onSendable(() => this.dispatch());
    this.dispatch();
  }

  removeConsumer(consumer: Consumer): void {
    const i = this.#consumers.indexOf(consumer);
    if (i >= 0) {
      this.#consumers.splice(i, 1);
      if (consumer.selector !== undefined) this.#selective--;
    }
    consumer.stopSendable?.();
    consumer.stopSendable = undefined;
  }

  addProducer(receiver: Receiver): void {
    this.#producers.add(receiver);
    this.topUpProducers();
  }

  removeProducer(receiver: Receiver): void {
    this.#producers.delete(receiver);
    this.topUpProducers();
  }

  /** Grants producers credit while the queue has room (end-to-end flow control). */
  topUpProducers(): void {
    let room = this.capacity;
    for (const p of this.#producers) {
      if (room <= 0) return;
      if (!p.isOpen) continue;
      const want = Math.min(PRODUCER_WINDOW - p.credit, room);
      if (want >= Math.min(room, PRODUCER_WINDOW / 2) && want > 0) {
        p.addCredit(want);
        room -= want;
      }
    }
  }

  /** Sends waiting messages to consumers with credit, in turn; copies to browsers. */
  dispatch(): void {
    for (const c of this.#consumers) if (c.browse) this.#browse(c);
    const consumers = this.#consumers;
    if (this.#selective > 0) {
      this.#dispatchSelected();
      return;
    }
    while (this.depth > 0) {
      const consumer = this.#nextConsumer(this.#messages[this.#head]!);
      if (!consumer) break;
      const message = this.#messages[this.#head]!;
      this.#messages[this.#head++] = undefined as unknown as StoredMessage;
      this.#compact();
      this.#deliver(consumer, message);
    }
    if (consumers.length === 0) this.#compact();
  }

  /**
   * With selectors, a message no consumer selects must not hold back those behind it: each
   * waiting message, oldest first, goes to the next consumer (with credit) that selects it.
   */
  #dispatchSelected(): void {
    const messages = this.#messages;
    for (let i = this.#head; i < messages.length;) {
      if (!this.#consumers.some((c) => !c.browse && c.sender.credit > 0 && c.sender.isOpen)) break;
      const message = messages[i]!;
      const consumer = this.#nextConsumer(message);
      if (!consumer) {
        i++;
        continue;
      }
      if (i === this.#head) {
        messages[this.#head++] = undefined as unknown as StoredMessage;
        i = this.#head;
      } else messages.splice(i, 1);
      this.#deliver(consumer, message);
    }
    this.#compact();
  }

  #nextConsumer(message: StoredMessage): Consumer | undefined {
    const consumers = this.#consumers;
    for (let i = 0; i < consumers.length; i++) {
      const c = consumers[(this.#turn + i) % consumers.length]!;
      if (c.browse || c.sender.credit <= 0 || !c.sender.isOpen) continue;
      if (message.excluded?.has(c)) continue;
      if (c.selector !== undefined && !selects(c.selector, message)) continue;
      this.#turn = (this.#turn + i + 1) % consumers.length;
      return c;
    }
    return undefined;
  }

  #compact(): void {
    if (this.#head === this.#messages.length) {
      this.#messages.length = 0;
      this.#head = 0;
    } else if (this.#head > 4096 && this.#head * 2 > this.#messages.length) {
      this.#messages.splice(0, this.#head);
      this.#head = 0;
    }
  }

  #payloadOf(message: StoredMessage): Uint8Array {
    if (message.deliveryCount === 0) return message.payload;
    if (!message.redeliveryPayload) {
      const decoded = decodeMessage(message.payload, { values: 'exact' });
      decoded.deliveryCount = message.deliveryCount;
      message.redeliveryPayload = encodeMessage(decoded);
    }
    return message.redeliveryPayload;
  }

  #deliver(consumer: Consumer, message: StoredMessage): void {
    this.#inFlight++;
    consumer.sender.sendPayload(this.#payloadOf(message)).then(
      (result) => {
        if (result?.kind !== 'transactionalState') {
          this.#settled(message);
          return;
        }
        // Accepted in a transaction: the message leaves at commit, and comes back at rollback.
        const connection = consumer.sender.session.connection;
        const outcome = (result as { outcome?: { kind: string } }).outcome;
        const back = (): void => {
          this.#inFlight--;
          this.#requeue(message);
        };
        if (
          outcome?.kind !== 'accepted' ||
          !this.onTransactionalAccept?.(result, connection, () => this.#settled(message), back)
        )
          back();
      },
      (error: unknown) => {
        if (error instanceof DeliveryRejectedError) {
          this.#settled(message);
          this.#deadLetter?.(message, this);
          return;
        }
        if (error instanceof MessageSizeExceededError) {
          // Too large for this consumer: not to be offered to it again; another may take it.
          (message.excluded ??= new Set()).add(consumer);
        } else if (error instanceof DeliveryModifiedError) {
          if (error.outcome.kind === 'modified') {
            if (error.outcome.deliveryFailed) {
              message.deliveryCount++;
              message.redeliveryPayload = undefined;
            }
            if (error.outcome.undeliverableHere) (message.excluded ??= new Set()).add(consumer);
          }
        }
        // Released, or the consumer went (link or connection closed) before settling: someone else gets it.
        this.#inFlight--;
        this.#requeue(message);
      },
    );
  }

  /** A message left the queue for good (accepted, or rejected and dead-lettered). */
  #settled(message: StoredMessage): void {
    this.#inFlight--;
    const cost = costOf(message);
    this.#bytes -= cost;
    this.#budget.release(cost);
    this.topUpProducers();
    this.onRoom?.();
  }

  /**
   * A consumer accepted a message in a transaction: the broker holds `commit` and `rollback` for
   * its end; false when the transaction is not open (the message is given back at once).
   */
  onTransactionalAccept:
    ((state: DeliveryState, connection: Connection, commit: () => void, rollback: () => void) => boolean) | undefined;

  /** Called when a settled message made room (topics top up their publishers from it). */
  onRoom: (() => void) | undefined;

  /**
   * Puts a message back, to be delivered again before newer ones: in its original place among the
   * messages put back before it (a closed link gives its unsettled messages back one by one, and
   * they must keep their order).
   */
  #requeue(message: StoredMessage): void {
    const messages = this.#messages;
    let i = this.#head;
    while (i < messages.length && messages[i]!.seq < message.seq) i++;
    if (i === this.#head && this.#head > 0) messages[--this.#head] = message;
    else messages.splice(i, 0, message);
    this.dispatch();
  }

  #browse(consumer: Consumer): void {
    const sender = consumer.sender;
    for (let i = this.#head; i < this.#messages.length && sender.credit > 0 && sender.isOpen; i++) {
      const m = this.#messages[i]!;
      if (m.seq < consumer.cursor) continue;
      consumer.cursor = m.seq + 1;
      if (!selects(consumer.selector, m)) continue;
      sender.sendPayload(this.#payloadOf(m)).catch(() => undefined);
    }
  }

  /** Drops every message and consumer (the broker is stopping or the queue was temporary). */
  clear(): void {
    this.#budget.release(this.#bytes);
    this.#bytes = 0;
    this.#messages.length = 0;
    this.#head = 0;
    for (const c of this.#consumers) c.stopSendable?.();
    this.#consumers.length = 0;
    this.#selective = 0;
    this.#producers.clear();
  }
}
