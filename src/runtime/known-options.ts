import { InvalidArgumentError } from '../errors.js';
/**
 * Options objects are checked against the keys their function knows: a misspelt or unsupported
 * option is refused at once, naming it, never silently ignored.
 */

/** Throws an `InvalidArgumentError` naming the first key of `options` that `known` does not hold. */
export function refuseUnknownOptions(options: object, known: ReadonlySet<string>, what: string): void {
  for (const key of Object.keys(options)) {
    if (!known.has(key))
      throw new InvalidArgumentError(
        `${what}: unknown option ${JSON.stringify(key)}; the options are ${[...known].join(', ')}`,
      );
  }
}
