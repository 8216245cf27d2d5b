/** A message received by a {@link Receiver}, and the ways to settle it. */
import type { DeliveryState } from '../codec/composite-types.js';
import {
  DECODE_EXACT,
  DECODE_NATIVE,
  decodeMessage,
  decodeMessageIn,
  type Annotations,
  type Message,
} from '../codec/message.js';
import type { AmqpValue } from '../codec/values.js';
import type { EngineDelivery } from '../engine/delivery.js';
import { ConnectionLostError, IllegalStateError, InvalidArgumentError, type AmqpErrorFields } from '../errors.js';
import type { Receiver } from './receiver.js';
import type { Transaction } from './transaction.js';
import type { BodyStream } from './body-stream.js';

/** How to modify a delivery instead of accepting it (spec 3.4.5). */
export interface ModifyOptions {
  /** Count this as a failed delivery attempt (the peer increments delivery-count). */
  deliveryFailed?: boolean | undefined;
  /** Do not deliver the message to this receiver again. */
  undeliverableHere?: boolean | undefined;
  /** Message annotations the peer merges into the message (named as the message's own `messageAnnotations`). */
  messageAnnotations?: Annotations | undefined;
}

const MODIFY_OPTIONS: ReadonlySet<string> = new Set(['deliveryFailed', 'undeliverableHere', 'messageAnnotations']);

/** Refuses modify options that are unknown (the old name `annotations` says its new one). */
export function checkModifyOptions(options: ModifyOptions, what: string): void {
  if (typeof options !== 'object' || options === null)
    throw new InvalidArgumentError(`${what} options must be an object, got ${String(options)}`);
  for (const key of Object.keys(options)) {
    if (key === 'annotations')
      throw new InvalidArgumentError(`${what}: the option annotations is now messageAnnotations, as on messages`);
    if (!MODIFY_OPTIONS.has(key))
      throw new InvalidArgumentError(
        `${what} option ${JSON.stringify(key)} is not supported; the options are ${[...MODIFY_OPTIONS].join(', ')}`,
      );
  }
}

/**
 * A message received, `Body` being the body type its receiver was created for.
 *
 * Settling it (`accept`, `reject`, `release`, `modify`) sends its outcome at the end of the
 * current turn of the event loop, together with the others of that turn. To a sender that streams
 * (sends on without waiting for outcomes) outcomes are batched, so that one frame settles many:
 * held up to 3 ms on plain TCP connections made with `connect()`, up to 1 ms on others (TLS,
 * WebSocket, `listen()`) and for a sender that keeps a window of messages unsettled. A sender
 * that waits for each outcome gets it at once.
 */
export class Delivery<Body = AmqpValue> {
  /** The receiver the message arrived on. */
  readonly receiver: Receiver<Body>;
  readonly #delivery: EngineDelivery;
  #message: Message<Body> | undefined;

  /** @internal A streaming receiver's body bytes, as they arrive. */
  readonly bodyStream: BodyStream | undefined;

  /** @internal Deliveries are made by receivers (streamed: with their body stream and the sections before the body). */
  constructor(receiver: Receiver<Body>, delivery: EngineDelivery, stream?: BodyStream, message?: Message) {
    this.receiver = receiver;
    this.#delivery = delivery;
    this.bodyStream = stream;
    if (message) this.#message = message as Message<Body>;
  }

  /** @internal */
  get engineDelivery(): EngineDelivery {
    return this.#delivery;
  }

  /**
   * A streaming receiver's delivery (`streaming: true`): the bytes of its data sections as they
   * arrive, in order. Ends when the message is whole; throws `DeliveryAbortedError` if the sender
   * aborts it (or the connection's error if it goes). While the reader is behind by more than a
   * megabyte, the session takes no more transfers. `message` holds the sections before the body.
   */
  stream(): AsyncIterable<Uint8Array> {
    if (!this.bodyStream)
      throw new IllegalStateError(
        `only a streaming receiver's deliveries stream their body; create the receiver with streaming: true`,
      );
    return this.bodyStream;
  }

  /**
   * The message, decoded on first access. Throws `DecodeError` if the sender sent bytes that are
   * not a valid AMQP message; `reject()` such a delivery.
   */
  get message(): Message<Body> {
    if (this.#message === undefined) {
      const options = this.receiver.values === 'exact' ? DECODE_EXACT : DECODE_NATIVE;
      const delivery = this.#delivery;
      const frame = delivery.payloadFrame; // still in the frame it came in: decoded from there
      this.#message = (
        frame !== undefined
          ? decodeMessageIn(frame, delivery.payloadStart, delivery.payloadEnd, options)
          : decodeMessage(this.payload, options)
      ) as Message<Body>;
    }
    return this.#message;
  }

  /** The message's bytes as they arrived (the bare message and its annotations). */
  get payload(): Uint8Array {
    return this.#delivery.payload ?? new Uint8Array(0);
  }

  /** The delivery tag the sender chose. */
  get tag(): Uint8Array {
    return this.#delivery.tag;
  }

  /** The message format (0 for standard AMQP messages). */
  get messageFormat(): number {
    return this.#delivery.messageFormat;
  }

  /** Whether we have settled it (accept, reject, release and modify settle it). */
  get settled(): boolean {
    return this.#delivery.settled;
  }

  /** Whether the sender settled it (always true for at-most-once). */
  get remoteSettled(): boolean {
    return this.#delivery.remoteSettled;
  }

  /** The state we gave it, once we did. */
  get state(): DeliveryState | undefined {
    return this.#delivery.localState;
  }

  /**
   * Accepts the message: the sender's `send()` resolves. With a `transaction` (of this
   * receiver's session), the accept takes effect when the transaction commits; rolled back, the
   * message is delivered again.
   */
  accept(options?: { transaction?: Transaction | undefined }): void {
    const transaction = options?.transaction;
    if (transaction === undefined) {
      this.#settle(ACCEPTED);
      return;
    }
    if (!this.receiver.session.transactionIsMine(transaction))
      throw new InvalidArgumentError(
        `the transaction belongs to another session than the ${this.receiver.label}'s: begin it on the same session`,
      );
    this.#settle(transaction.stateFor(ACCEPTED));
  }

  /** @internal Settles with any state (the broker's transaction coordinator answers with `declared` and transactional states). */
  settleWith(state: DeliveryState): void {
    this.#settle(state);
  }

  /** @internal The state the sender put on the transfer (a transactional-state for a message sent in a transaction). */
  get transferState(): DeliveryState | undefined {
    return this.#delivery.remoteState;
  }

  /**
   * Rejects the message as invalid: the sender's `send()` fails with `DeliveryRejectedError`
   * carrying this error. A broker usually dead-letters or drops it.
   */
  reject(error?: AmqpErrorFields | string): void {
    const e = typeof error === 'string' ? { condition: 'amqp:internal-error', description: error } : error;
    this.#settle({
      kind: 'rejected',
      error:
        e === undefined
          ? undefined
          : { condition: e.condition, description: e.description, info: e.info as Record<string, never> | undefined },
    });
  }

  /** Releases the message unprocessed: the peer may deliver it again, to us or another receiver. */
  release(): void {
    this.#settle(RELEASED);
  }

  /** Gives the message back modified: a failed attempt, and/or not to be delivered here again. */
  modify(options: ModifyOptions = {}): void {
    checkModifyOptions(options, 'modify');
    this.#settle({
      kind: 'modified',
      deliveryFailed: options.deliveryFailed,
      undeliverableHere: options.undeliverableHere,
      messageAnnotations: options.messageAnnotations,
    });
  }

  #settle(state: DeliveryState): void {
    const d = this.#delivery;
    if (d.settled) {
      if (d.remoteSettled && d.localState === undefined) return; // pre-settled by the sender: nothing to say
      throw new IllegalStateError(
        `this message was already settled (${d.localState?.kind ?? 'settled'}); a delivery is settled once`,
      );
    }
    const receiver = this.receiver;
    if (!receiver.isOpen || d.link !== receiver.engineLink) {
      // One test on the way of every settlement; which error, only when it fails.
      if (receiver.suspended || d.link !== receiver.engineLink) {
        throw new ConnectionLostError(
          `cannot settle a message of the ${receiver.label}: it arrived on a connection that was lost since. The peer will deliver the message again (on the reconnected link); settle that one.`,
        );
      }
      throw new IllegalStateError(
        `cannot settle a message of the ${receiver.label}: the link is closed. The peer will deliver the message again.`,
      );
    }
    // In receiver-settle-mode second we give the outcome now and settle once the sender has.
    d.update(state, !this.receiver.settlesSecond);
    this.receiver.onSettled(this);
  }
}

// The outcomes without fields are shared: one object for every accept (or release), not one each.
const ACCEPTED: DeliveryState = Object.freeze({ kind: 'accepted' });
const RELEASED: DeliveryState = Object.freeze({ kind: 'released' });
