/** A Subject made on first subscription, so that rxjs is loaded only when an RxJS view is used. */
import type { Observable, Subject } from 'rxjs';
import { rxjs } from './rxjs-module.js';

export class LazySubject<T> {
  #subject: Subject<T> | undefined;
  #completed = false;

  /** @param feature the view it backs, named in the error when rxjs is not installed (e.g. `connection.events$`) */
  constructor(private readonly feature: string) {}

  /** The values from now on; complete at once if the source already ended. */
  asObservable(): Observable<T> {
    if (this.#subject === undefined) {
      this.#subject = new (rxjs(this.feature).Subject)<T>();
      if (this.#completed) this.#subject.complete();
    }
    return this.#subject.asObservable();
  }

  /** Whether anyone subscribes now (so that values nobody would see are not even built). */
  get observed(): boolean {
    return this.#subject?.observed ?? false;
  }

  next(value: T): void {
    if (this.#subject?.observed) this.#subject.next(value);
  }

  complete(): void {
    this.#completed = true;
    this.#subject?.complete();
  }
}
