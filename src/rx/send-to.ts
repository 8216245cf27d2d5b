/**
 * Sending what an Observable emits. An Observable pushes: it cannot be paused, so this operator
 * applies backpressure the only way a push source allows: it sends as fast as the link takes,
 * holds at most `maxBuffered` messages waiting for credit, and fails with a typed error rather
 * than grow without bound. For sources that can be pulled (arrays, generators, async iterables),
 * `sender.sendAll()` reads no faster than the link takes.
 */
import type { OperatorFunction, Subscriber } from 'rxjs';
import { rxjs } from '../runtime/rxjs-module.js';
import type { Message } from '../codec/message.js';
import type { Sender, SendResult } from '../client/sender.js';
import { AmqpError, InvalidArgumentError } from '../errors.js';

/** Options of {@link sendTo}. */
export interface SendToOptions {
  /** Messages that may wait for credit before the stream fails with `amqp:resource-limit-exceeded`. Default 10000. */
  maxBuffered?: number;
}

/**
 * An operator that sends each message to `sender` and emits each result as the peer settles it.
 * The output errors with the first failed send (a `DeliveryRejectedError`, ...), or with an
 * `AmqpError` of condition `amqp:resource-limit-exceeded` if more than `maxBuffered` messages
 * wait for credit. It completes when the source has completed and every send has settled.
 * Unsubscribing stops reading the source; messages already handed to the sender still go out.
 *
 * @example
 * messages$.pipe(sendTo(sender)).subscribe({ error: (e) => console.error(e) });
 */
export function sendTo(sender: Sender, options: SendToOptions = {}): OperatorFunction<Message, SendResult> {
  return sendEach<Message, SendResult>(
    sender,
    options,
    'sendTo',
    (message) => message,
    (subscriber, _message, result) => subscriber.next(result),
    (subscriber, _message, error) => subscriber.error(error),
  );
}

/** What {@link forwardTo} emits for each source item: the item and its send's fate. */
export type Forwarded<T> =
  | {
      /** The source item. */
      item: T;
      /** Its send's result (the peer's outcome). */
      result: SendResult;
      /** Unset: the send succeeded. */
      error?: undefined;
    }
  | {
      /** The source item. */
      item: T;
      /** Unset: the send failed. */
      result?: undefined;
      /** Why its send failed. */
      error: unknown;
    };

/**
 * An operator for at-least-once forwarding: sends `toMessage(item)` for each source item and
 * emits the item with its send's fate once the peer has settled it, whether accepted
 * (`result`) or not (`error`: a `DeliveryRejectedError`, a lost connection, ...). Settle the
 * input only then, so that nothing is lost between two links:
 *
 * @example
 * receiver.deliveries$().pipe(
 *   forwardTo(sender, (d) => ({ body: d.message.body })),
 * ).subscribe(({ item, error }) => (error ? item.release() : item.accept()));
 *
 * The output errors only when the source does, or when more than `maxBuffered` items wait for
 * credit (`amqp:resource-limit-exceeded`); it completes when the source has completed and every
 * send has settled.
 */
export function forwardTo<T>(
  sender: Sender,
  toMessage: (item: T) => Message,
  options: SendToOptions = {},
): OperatorFunction<T, Forwarded<T>> {
  if (typeof toMessage !== 'function')
    throw new InvalidArgumentError('forwardTo needs a function that makes the message for each item');
  return sendEach<T, Forwarded<T>>(
    sender,
    options,
    'forwardTo',
    toMessage,
    (subscriber, item, result) => subscriber.next({ item, result }),
    (subscriber, item, error) => subscriber.next({ item, error }),
  );
}

/** The one sending loop of both operators: what they emit for a result or a failure is theirs. */
function sendEach<T, R>(
  sender: Sender,
  options: SendToOptions,
  name: string,
  toMessage: (item: T) => Message,
  onResult: (subscriber: Subscriber<R>, item: T, result: SendResult) => void,
  onFailure: (subscriber: Subscriber<R>, item: T, error: unknown) => void,
): OperatorFunction<T, R> {
  const maxBuffered = options.maxBuffered ?? 10000;
  return (source) =>
    new (rxjs(`${name}()`).Observable)<R>((subscriber) => {
      let inFlight = 0;
      let sourceDone = false;
      const settled = (): void => {
        inFlight--;
        if (sourceDone && inFlight === 0) subscriber.complete();
      };
      const subscription = source.subscribe({
        next: (item) => {
          if (sender.pending >= maxBuffered) {
            subscriber.error(
              new AmqpError(
                'amqp:resource-limit-exceeded',
                `${name}: the source emitted faster than the ${sender.label} takes messages (${maxBuffered} waiting for credit). Slow the source, raise maxBuffered, or use sender.sendAll() with a pull source.`,
              ),
            );
            return;
          }
          let message: Message;
          try {
            message = toMessage(item);
          } catch (e) {
            subscriber.error(e);
            return;
          }
          inFlight++;
          sender.send(message).then(
            (result) => {
              onResult(subscriber, item, result);
              settled();
            },
            (error: unknown) => {
              onFailure(subscriber, item, error);
              settled();
            },
          );
        },
        error: (error: unknown) => subscriber.error(error),
        complete: () => {
          sourceDone = true;
          if (inFlight === 0) subscriber.complete();
        },
      });
      return () => subscription.unsubscribe();
    });
}
