/**
 * Cancellation of async calls: an AbortSignal, a timeout, or both. One watcher per call, removed
 * when the call settles, so that nothing (listener or timer) outlives it.
 */
import { AbortError, InvalidArgumentError, TimeoutError, type AmqpError } from '../errors.js';

/** Options every async call of Quark takes. */
export interface CallOptions {
  /** Cancels the call. What a cancelled call leaves behind is said on each method. */
  signal?: AbortSignal | undefined;
  /** Milliseconds after which the call fails with a `TimeoutError`. No timeout when absent. */
  timeout?: number | undefined;
}

const noop = (): void => {};

/** Throws an InvalidArgumentError unless `timeout` is absent or a non-negative number of milliseconds. */
export function checkTimeout(timeout: unknown): void {
  if (timeout !== undefined && !(typeof timeout === 'number' && timeout >= 0 && Number.isFinite(timeout))) {
    throw new InvalidArgumentError(`timeout must be a non-negative number of milliseconds, got ${String(timeout)}`);
  }
}

/**
 * An `AbortError` when the call's signal is aborted before the call begins, for calls that then
 * do nothing at all (a send sends nothing, a receive takes nothing); otherwise undefined.
 */
export function abortedAtStart(
  options: CallOptions | undefined,
  what: string,
  leftUndone: string,
): AbortError | TimeoutError | undefined {
  const signal = options?.signal;
  return signal?.aborted
    ? abortedBy(
        signal,
        `${what} was aborted before it began; ${leftUndone}`,
        `${what} timed out before it began (its signal's timeout had passed); ${leftUndone}`,
      )
    : undefined;
}

/**
 * The error of a fired signal: a `TimeoutError` for `AbortSignal.timeout()` (its reason is a
 * DOMException named TimeoutError), an `AbortError` for anything else.
 */
function abortedBy(signal: AbortSignal, abortMessage: string, timeoutMessage: string): AbortError | TimeoutError {
  const reason: unknown = signal.reason;
  if (reason instanceof Error && reason.name === 'TimeoutError') return new TimeoutError(timeoutMessage);
  return new AbortError(abortMessage, reason);
}

/**
 * Calls `cancel` with an `AbortError` or `TimeoutError` if the signal fires or the timeout passes
 * first. Returns the function that stops watching; call it when the operation settles.
 * `what` names the operation in the error message, e.g. "send to orders".
 *
 * A signal that is already aborted cancels right after the caller has set the operation up, never
 * during it (a microtask later): `cancel` then always undoes a whole operation, as it does for an
 * abort that comes later.
 */
export function watchCancellation(
  options: CallOptions | undefined,
  what: string,
  cancel: (error: AmqpError) => void,
): () => void {
  const signal = options?.signal;
  const timeout = options?.timeout;
  if (signal === undefined && timeout === undefined) return noop;
  checkTimeout(timeout);
  if (signal !== undefined && !(signal instanceof AbortSignal))
    throw new InvalidArgumentError(
      `${what}: signal must be an AbortSignal (e.g. from an AbortController), got ${String(signal)}`,
    );
  if (signal?.aborted) {
    let stopped = false;
    queueMicrotask(() => {
      if (!stopped) cancel(abortedBy(signal, `${what} was aborted`, `${what} timed out (its signal's timeout passed)`));
    });
    return () => {
      stopped = true;
    };
  }
  let timer: NodeJS.Timeout | undefined;
  const onAbort = (): void => {
    stop();
    cancel(abortedBy(signal!, `${what} was aborted`, `${what} timed out (its signal's timeout passed)`));
  };
  const stop = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    signal?.removeEventListener('abort', onAbort);
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  if (timeout !== undefined) {
    timer = setTimeout(() => {
      stop();
      cancel(new TimeoutError(`${what} did not complete within ${timeout} ms`));
    }, timeout);
  }
  return stop;
}

/** A pending call's way to settle: each also stops watching the call's signal and timeout. */
export interface CallSettlers {
  resolve: () => void;
  reject: (error: AmqpError) => void;
}

/** Settlers that resolve the call's promise with `value` (or reject it), after `stop()`. */
export function settlersFor<T>(
  stop: () => void,
  resolve: (value: T) => void,
  value: T,
  reject: (error: AmqpError) => void,
): CallSettlers {
  return {
    resolve: () => {
      stop();
      resolve(value);
    },
    reject: (error) => {
      stop();
      reject(error);
    },
  };
}
