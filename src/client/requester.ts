/**
 * Request/response over AMQP, the client side (Proton's `SyncRequestResponse`, made concurrent):
 * requests go to an address with `reply-to` naming a dynamic queue of our own and a correlation
 * id; the reply carrying that correlation id resolves its request. Many requests may be in
 * flight; a reply that comes after its request gave up is dropped and counted.
 */
import { Buffer } from 'node:buffer';
import type { Message } from '../codec/message.js';
import type { MessageId } from '../codec/composite-types.js';
import { Typed, type AmqpValue } from '../codec/values.js';
import { AbortError, IllegalStateError, InvalidArgumentError, TimeoutError, type AmqpError } from '../errors.js';
import { withCallerStack } from './caller-stack.js';
import { watchCancellation, type CallOptions } from './cancellation.js';
import type { Delivery } from './delivery.js';
import type { Receiver } from './receiver.js';
import type { ReceiverSubscription } from './receiver-subscription.js';
import type { Sender } from './sender.js';

/** Options of `createRequester()`. */
export interface RequesterOptions {
  /** Milliseconds a request waits for its reply unless the call gives its own `timeout`. Default 30000; 0 for none. */
  timeout?: number | undefined;
}

interface PendingRequest {
  resolve: (reply: Message) => void;
  reject: (error: AmqpError) => void;
  stop: () => void;
}

/** The string a correlation id is matched by (ids of different types never match). */
function correlationKey(id: MessageId | AmqpValue | undefined): string | undefined {
  if (typeof id === 'string') return `s:${id}`;
  if (typeof id === 'number' || typeof id === 'bigint') return `u:${id}`;
  if (id instanceof Typed) return `${id.type === 'ulong' ? 'u' : id.type}:${String(id.value)}`;
  if (id instanceof Uint8Array) return `b:${Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('hex')}`;
  return undefined;
}

/** Sends requests and resolves each with its reply. Make one with `connection.createRequester(address)`. */
export class Requester implements AsyncDisposable {
  readonly #sender: Sender;
  readonly #receiver: Receiver;
  readonly #subscription: ReceiverSubscription<AmqpValue>;
  readonly #pending = new Map<string, PendingRequest>();
  readonly #timeout: number;
  readonly #idPrefix = `${crypto.randomUUID()}:`;
  #next = 0;
  #dropped = 0;
  #closed = false;

  /** @internal Use `connection.createRequester()`. */
  constructor(sender: Sender, receiver: Receiver, options: RequesterOptions) {
    this.#sender = sender;
    this.#receiver = receiver;
    this.#timeout = options.timeout ?? 30_000;
    this.#subscription = receiver.subscribe((delivery) => this.#onReply(delivery), { concurrency: 1, prefetch: 100 });
    // The reply link ended (with an error, or closed by the peer): no reply can come any more.
    void this.#subscription.then(
      () => {
        if (!this.#closed)
          this.#failAll(
            this.#receiver.error ??
              new IllegalStateError(
                `the reply link of the requester to '${this.#sender.address}' was closed by the peer: no reply can come; create a new requester`,
              ),
          );
      },
      (error: unknown) => this.#failAll(error as AmqpError),
    );
  }

  /** The address replies come to (the dynamic queue the peer made for us). */
  get replyTo(): string | undefined {
    return this.#receiver.address;
  }

  /** Requests waiting for their reply. */
  get pending(): number {
    return this.#pending.size;
  }

  /** Replies that came for no request waiting (it had timed out or been cancelled): dropped. */
  get droppedReplies(): number {
    return this.#dropped;
  }

  /**
   * Sends `message` as a request and resolves with the reply. The request gets our `replyTo`,
   * and a `messageId` and `correlationId` unless it has them (the reply must carry the
   * correlation id back, as Proton's and most servers do). Rejects with `TimeoutError` after the
   * timeout, `AbortError` when the signal fires, or the send's error; the request's reply, if it
   * comes later, is dropped.
   */
  async request(message: Message, options?: CallOptions): Promise<Message> {
    try {
      return await this.#request(message, options);
    } catch (e) {
      throw withCallerStack(e);
    }
  }

  #request(message: Message, options: CallOptions | undefined): Promise<Message> {
    if (this.#closed)
      return Promise.reject(new IllegalStateError(`the requester to '${this.#sender.address}' is closed`));
    const id = message.correlationId ?? message.messageId ?? `${this.#idPrefix}${this.#next++}`;
    const key = correlationKey(id);
    if (key === undefined)
      return Promise.reject(
        new InvalidArgumentError("a request's correlationId must be a string, number, bigint, bytes or uuid"),
      );
    if (this.#pending.has(key))
      return Promise.reject(
        new InvalidArgumentError(`a request with correlation id ${String(id)} is already waiting for its reply`),
      );
    const request: Message = {
      ...message,
      messageId: message.messageId ?? id,
      correlationId: id,
      replyTo: this.replyTo,
    };
    const timeout = options?.timeout ?? (this.#timeout > 0 ? this.#timeout : undefined);
    return new Promise<Message>((resolve, reject) => {
      const pending: PendingRequest = { resolve, reject, stop: () => undefined };
      this.#pending.set(key, pending);
      // A request given up (timeout, signal) while it still waits for credit is not sent after all.
      const giveUp = new AbortController();
      pending.stop = watchCancellation(
        { signal: options?.signal, timeout },
        `request to '${this.#sender.address}'`,
        (error) => {
          this.#pending.delete(key);
          giveUp.abort(error);
          reject(
            error instanceof TimeoutError
              ? new TimeoutError(`no reply to the request to '${this.#sender.address}' within ${timeout} ms`)
              : error,
          );
        },
      );
      this.#sender.send(request, { signal: giveUp.signal }).catch((error: unknown) => {
        if (this.#pending.get(key) !== pending) return;
        this.#pending.delete(key);
        pending.stop();
        reject(error as AmqpError);
      });
    });
  }

  #onReply(delivery: Delivery): void {
    const reply = delivery.message;
    const key = correlationKey(reply.correlationId);
    const pending = key === undefined ? undefined : this.#pending.get(key);
    delivery.accept();
    if (!pending) {
      this.#dropped++;
      return;
    }
    this.#pending.delete(key!);
    pending.stop();
    pending.resolve(reply);
  }

  #failAll(error: AmqpError): void {
    for (const [key, p] of this.#pending) {
      this.#pending.delete(key);
      p.stop();
      p.reject(error);
    }
  }

  /** Closes the requester's links; requests still waiting reject with `AbortError`. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#failAll(new AbortError(`the requester to '${this.#sender.address}' was closed`));
    await this.#subscription.stop();
    await Promise.all([this.#sender.close().catch(() => undefined), this.#receiver.close().catch(() => undefined)]);
  }

  /** Closes it: `await using` calls this when the block ends. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
