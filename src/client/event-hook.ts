import type { Observable } from 'rxjs';
import { rxjs } from '../runtime/rxjs-module.js';

/**
 * Listeners of one kind of event, until the source ends: the small hook a client object offers
 * the layers above it. The RxJS views (`events$`, `links$`, ...) are built on it, and the listening
 * side and the container listen on it directly, without rxjs. Emitting costs one loop over the
 * listeners (none: one length check), so a source can ask {@link EventHook.observed} before it
 * builds an event nobody would see.
 */
export class EventHook<T> {
  // Replaced, never changed in place: an emit in progress keeps the list it started with.
  #listeners: readonly { readonly event: (value: T) => void; readonly end: (() => void) | undefined }[] = [];
  #ended = false;

  /** Whether anyone listens now. */
  get observed(): boolean {
    return this.#listeners.length > 0;
  }

  /** Whether the source has ended (no event comes any more). */
  get ended(): boolean {
    return this.#ended;
  }

  /**
   * Calls `event` for every value from now on and `end` once the source ends (at once if it has
   * already). Returns the function that stops listening.
   */
  listen(event: (value: T) => void, end?: () => void): () => void {
    if (this.#ended) {
      end?.();
      return noop;
    }
    const listener = { event, end };
    this.#listeners = [...this.#listeners, listener];
    return () => {
      this.#listeners = this.#listeners.filter((l) => l !== listener);
    };
  }

  /** Hands `value` to every listener. */
  emit(value: T): void {
    const listeners = this.#listeners;
    for (let i = 0; i < listeners.length; i++) {
      try {
        listeners[i]!.event(value);
      } catch (e) {
        rethrowLater(e);
      }
    }
  }

  /** The source has ended: tells every listener once; later listeners hear it at once. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    const listeners = this.#listeners;
    this.#listeners = [];
    for (const l of listeners) {
      try {
        l.end?.();
      } catch (e) {
        rethrowLater(e);
      }
    }
  }

  /**
   * The RxJS view: the values from now on (those `accept` takes, when given), completing when the
   * source ends. rxjs is loaded here, on first use; `feature` names the view when it is missing.
   */
  asObservable(feature: string, accept?: (value: T) => boolean): Observable<T> {
    return new (rxjs(feature).Observable)<T>((subscriber) =>
      this.listen(
        accept === undefined ? (value) => subscriber.next(value) : (value) => accept(value) && subscriber.next(value),
        () => subscriber.complete(),
      ),
    );
  }
}

function noop(): void {}

/**
 * A listener that throws has a bug; its error must not break the source (a connection amid an
 * engine event), so it is thrown again on its own, as rxjs does with a subscriber's error.
 */
function rethrowLater(error: unknown): void {
  setTimeout(() => {
    throw error;
  });
}
