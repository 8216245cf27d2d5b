/**
 * Sending what an Observable emits. An Observable pushes: it cannot be paused, so this operator
 * applies backpressure the only way a push source allows: it sends as fast as the link takes,
 * holds at most `maxBuffered` messages waiting for credit, and fails with a typed error rather
 * than grow without bound. For sources that can be pulled (arrays, generators, async iterables),
 * `sender.sendAll()` reads no faster than the link takes.
 */
import type { OperatorFunction } from 'rxjs';
import { rxjs } from './rxjs-module.js';
import type { Message } from '../codec/message.js';
import type { Sender, SendResult } from '../client/sender.js';
import { AmqpError } from '../errors.js';

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
  const maxBuffered = options.maxBuffered ?? 10000;
  return (source) =>
    new (rxjs().Observable)<SendResult>((subscriber) => {
      let inFlight = 0;
      let sourceDone = false;
      const subscription = source.subscribe({
        next: (message) => {
          if (sender.pending >= maxBuffered) {
            subscriber.error(new AmqpError('amqp:resource-limit-exceeded', `sendTo: the source emitted faster than ${sender.name} takes messages (${maxBuffered} waiting for credit). Slow the source, raise maxBuffered, or use sender.sendAll() with a pull source.`));
            return;
          }
          inFlight++;
          sender.send(message).then(
            (result) => {
              inFlight--;
              subscriber.next(result);
              if (sourceDone && inFlight === 0) subscriber.complete();
            },
            (error: unknown) => {
              inFlight--;
              subscriber.error(error);
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
