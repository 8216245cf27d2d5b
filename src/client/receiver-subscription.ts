/**
 * `receiver.subscribe(handler)`: the consumer loop of service code. Handlers run up to a
 * concurrency, credit follows it, a handler's result settles its message, and the whole thing
 * stops on a signal, on `stop()`, or with the receiver.
 */
import { debugLog } from '../runtime/debug-log.js';
import { refuseUnknownOptions } from '../runtime/known-options.js';
import type { Delivery } from './delivery.js';
import type { Receiver } from './receiver.js';
import { InvalidArgumentError } from '../errors.js';

const log = debugLog('quark:subscribe');
const SUBSCRIBE_OPTIONS: ReadonlySet<string> = new Set(['concurrency', 'prefetch', 'signal', 'onError']);

/** What to do with a message whose handler threw (or rejected). */
export type HandlerErrorAction<Body> =
  /** Modified with delivery-failed (the default): the broker counts a failed attempt, then delivers it again or dead-letters it. */
  | 'modify'
  /** Released: delivered again as if never tried. */
  | 'release'
  /** Rejected: the message is invalid; brokers dead-letter or drop it. The error's message is its description. */
  | 'reject'
  /** Your own choice: settle `delivery` here (accept, reject, release or modify). Left unsettled, it is modified as by default. */
  | ((error: unknown, delivery: Delivery<Body>) => void);

/** Options of {@link Receiver.subscribe}. */
export interface SubscribeOptions<Body> {
  /** Handlers running at once. Default 1 (messages in order). */
  concurrency?: number | undefined;
  /** Messages taken ahead of the handlers, to have the next ready (more throughput, more held). Default 0. */
  prefetch?: number | undefined;
  /** Stops the subscription: no more messages are taken; handlers running finish. */
  signal?: AbortSignal | undefined;
  /** What a failed handler does to its message. Default `'modify'`. */
  onError?: HandlerErrorAction<Body> | undefined;
}

/**
 * A running subscription. Await it (it is a promise-like) to wait for its end: it resolves when
 * stopped (signal or `stop()`) or when the receiver is closed by us, after the handlers running
 * have finished; it rejects with the error when the link or connection fails.
 */
export class ReceiverSubscription<Body> implements PromiseLike<void> {
  readonly #receiver: Receiver<Body>;
  readonly #handler: (delivery: Delivery<Body>) => unknown;
  readonly #onError: HandlerErrorAction<Body>;
  readonly #stopper = new AbortController();
  readonly #done: Promise<void>;
  #error: unknown;

  /** @internal Use `receiver.subscribe()`. */
  constructor(
    receiver: Receiver<Body>,
    handler: (delivery: Delivery<Body>) => unknown,
    options: SubscribeOptions<Body> = {},
  ) {
    if (typeof handler !== 'function') throw new InvalidArgumentError('subscribe needs a handler function');
    refuseUnknownOptions(options, SUBSCRIBE_OPTIONS, 'subscribe');
    const concurrency = options.concurrency ?? 1;
    const prefetch = options.prefetch ?? 0;
    if (!Number.isInteger(concurrency) || concurrency < 1)
      throw new InvalidArgumentError(
        `subscribe: concurrency must be a whole number of at least 1, got ${String(concurrency)}`,
      );
    if (!Number.isInteger(prefetch) || prefetch < 0)
      throw new InvalidArgumentError(
        `subscribe: prefetch must be a whole number of at least 0, got ${String(prefetch)}`,
      );
    const onError = options.onError ?? 'modify';
    if (typeof onError !== 'function' && !['modify', 'release', 'reject'].includes(onError)) {
      throw new InvalidArgumentError(
        `subscribe: onError must be 'modify', 'release', 'reject' or a function, got ${JSON.stringify(onError)}`,
      );
    }
    const signal = options.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal))
      throw new InvalidArgumentError('subscribe: signal must be an AbortSignal');
    this.#receiver = receiver;
    this.#handler = handler;
    this.#onError = onError;
    const stop = (): void => this.#stopper.abort();
    if (signal?.aborted) stop();
    else signal?.addEventListener('abort', stop, { once: true });
    // Credit follows the handlers: no more is taken than they can run, plus the prefetch.
    receiver.boundUnsettled(concurrency + prefetch);
    this.#done = this.#run(concurrency).finally(() => {
      signal?.removeEventListener('abort', stop);
      receiver.boundUnsettled(undefined);
    });
    // Awaiting is optional: a failure is kept in `error`, never an unhandled rejection.
    this.#done.catch(() => undefined);
  }

  /** The error that ended the subscription (the link's or the connection's), if one did. */
  get error(): unknown {
    return this.#error;
  }

  /** Stops taking messages; resolves once the handlers running have finished. */
  stop(): Promise<void> {
    this.#stopper.abort();
    return this.#done.catch(() => undefined);
  }

  /** Awaiting the subscription waits for it to end: it resolves when it stops, and rejects when the link or connection fails. */
  then<R1 = void, R2 = never>(
    onfulfilled?: ((value: void) => R1 | PromiseLike<R1>) | null,
    onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    return this.#done.then(onfulfilled, onrejected);
  }

  async #run(concurrency: number): Promise<void> {
    const workers = await Promise.allSettled(Array.from({ length: concurrency }, () => this.#work()));
    const failed = workers.find((w): w is PromiseRejectedResult => w.status === 'rejected');
    if (failed) {
      this.#error = failed.reason;
      throw failed.reason;
    }
  }

  /** One handler slot: takes a message, runs the handler, settles, again. */
  async #work(): Promise<void> {
    const receiver = this.#receiver;
    const signal = this.#stopper.signal;
    while (!signal.aborted) {
      let delivery: Delivery<Body>;
      try {
        delivery = await receiver.receive({ signal });
      } catch (e) {
        if (signal.aborted || (!receiver.live && receiver.error === undefined)) return;
        this.#stopper.abort(); // the other slots stop too
        throw e;
      }
      try {
        await this.#handler(delivery);
        settle(delivery, (d) => d.accept());
      } catch (error) {
        this.#failed(error, delivery);
      }
    }
  }

  #failed(error: unknown, delivery: Delivery<Body>): void {
    log(
      'handler failed on receiver %s: %s',
      this.#receiver.name,
      error instanceof Error ? error.message : String(error),
    );
    const onError = this.#onError;
    if (typeof onError === 'function') {
      try {
        onError(error, delivery);
      } catch (e) {
        log('onError threw: %s', e instanceof Error ? e.message : String(e));
      }
    }
    if (onError === 'release') settle(delivery, (d) => d.release());
    else if (onError === 'reject')
      settle(delivery, (d) =>
        d.reject({
          condition: 'amqp:internal-error',
          description: error instanceof Error ? error.message : String(error),
        }),
      );
    else settle(delivery, (d) => d.modify({ deliveryFailed: true }));
  }
}

/** Settles a delivery unless the handler did; one whose connection was lost is delivered again by the peer. */
function settle<Body>(delivery: Delivery<Body>, how: (d: Delivery<Body>) => void): void {
  if (delivery.settled) return;
  try {
    how(delivery);
  } catch (e) {
    log('could not settle a message: %s', e instanceof Error ? e.message : String(e));
  }
}
