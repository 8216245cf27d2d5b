/**
 * Request/response, the server side: takes requests from an address, runs a handler for each,
 * and sends its result to the request's `reply-to` with the request's correlation id (its
 * message id when it has none), as Proton's `server.py` does. A request is accepted only once
 * its reply has been accepted, so a request whose reply could not be sent is given back.
 */
import type { Message } from '../codec/message.js';
import type { AmqpValue } from '../codec/values.js';
import type { Delivery } from './delivery.js';
import type { Receiver } from './receiver.js';
import type { HandlerErrorAction, ReceiverSubscription } from './receiver-subscription.js';
import type { Sender } from './sender.js';

/** Makes the reply to a request. */
export type RequestHandler = (request: Message, delivery: Delivery) => Message | Promise<Message>;

/** Options of `createResponder()`. */
export interface ResponderOptions {
  /** Requests handled at once. Default 1. */
  concurrency?: number | undefined;
  /** Stops taking requests (running handlers finish). */
  signal?: AbortSignal | undefined;
  /** What a failed handler (or a reply that could not be sent) does to its request. Default `'modify'` (see `subscribe()`). */
  onError?: HandlerErrorAction<AmqpValue> | undefined;
}

/**
 * Answers requests. Make one with `connection.createResponder(address, handler)`; `done`
 * settles when it ends. (Not itself awaitable: `createResponder()` resolves with it.)
 */
export class Responder implements AsyncDisposable {
  readonly #receiver: Receiver;
  readonly #replies: (to: string) => Promise<Sender>;
  readonly #closeSenders: () => Promise<void>;
  readonly #subscription: ReceiverSubscription<AmqpValue>;
  #answered = 0;

  /** @internal Use `connection.createResponder()`. */
  constructor(
    receiver: Receiver,
    replies: (to: string) => Promise<Sender>,
    closeSenders: () => Promise<void>,
    handler: RequestHandler,
    options: ResponderOptions,
  ) {
    this.#receiver = receiver;
    this.#replies = replies;
    this.#closeSenders = closeSenders;
    this.#subscription = receiver.subscribe(
      async (delivery) => {
        const request = delivery.message;
        const replyTo = request.replyTo;
        if (replyTo === undefined) {
          delivery.reject({
            condition: 'amqp:precondition-failed',
            description: 'a request needs a reply-to address to be answered',
          });
          return;
        }
        const reply = await handler(request, delivery);
        const sender = await this.#replies(replyTo);
        await sender.send({ ...reply, to: replyTo, correlationId: request.correlationId ?? request.messageId });
        this.#answered++;
      },
      { concurrency: options.concurrency, signal: options.signal, onError: options.onError },
    );
  }

  /** Requests answered so far. */
  get answered(): number {
    return this.#answered;
  }

  /** The address requests are taken from. */
  get address(): string | undefined {
    return this.#receiver.address;
  }

  /** Resolves when the responder stops (signal, `close()`, or its receiver closed by us); rejects when the link or connection fails. */
  get done(): Promise<void> {
    return Promise.resolve(this.#subscription);
  }

  /** Stops taking requests; resolves once the running handlers have finished and the links are closed. */
  async close(): Promise<void> {
    await this.#subscription.stop();
    await Promise.all([this.#receiver.close().catch(() => undefined), this.#closeSenders()]);
  }

  /** Closes it: `await using` calls this when the block ends. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
