/**
 * Errors that point at the application's code. A failure found by the engine (a peer's detach, a
 * lost socket, a rejected outcome) is created in a socket callback, so its stack says only where
 * in Quark it was found. The API's async methods rethrow it from their own `await`, where V8's
 * async stack traces know who called (`at async main (app.js:12)`): the error the caller gets is
 * a copy with that stack. The copy keeps the class, the condition and every other field.
 */

/** A copy of `error` whose stack is the current async call chain (the application's call site). */
export function withCallerStack<E>(error: E): E {
  if (!(error instanceof Error)) return error;
  const here: { stack?: string } = {};
  Error.captureStackTrace(here, withCallerStack);
  const frames = here.stack?.slice(here.stack.indexOf('\n') + 1);
  // Without the application's frames (no async caller) there is nothing to add.
  if (frames === undefined || !frames.includes('at async')) return error;
  const copy = Object.create(Object.getPrototypeOf(error) as object) as Error;
  for (const key of Reflect.ownKeys(error)) {
    if (key !== 'stack') Object.defineProperty(copy, key, Object.getOwnPropertyDescriptor(error, key)!);
  }
  Object.defineProperty(copy, 'stack', {
    value: `${error.name}: ${error.message}\n${frames}`,
    writable: true,
    configurable: true,
    enumerable: false,
  });
  return copy as E;
}
