/** Namespaced debug logging through the `debug` package (`DEBUG=quark:*` prints it). */
import type { Debug, Debugger } from 'debug';
import { packageRequire } from './package-require.js';

const createDebug = packageRequire('debug') as Debug;

/** The logger of one namespace, e.g. `quark:connection`. */
export function debugLog(namespace: string): Debugger {
  return createDebug(namespace);
}
