/** Namespaced debug logging through the `debug` package (`DEBUG=quark:*` prints it). */
import type { Debug } from 'debug';
import { packageRequire } from './package-require.js';

const createDebug = packageRequire('debug') as Debug;

/**
 * What Quark uses of a `debug` logger. Declared here so that the published declarations need no
 * `@types/debug`.
 */
export interface DebugLogger {
  (format: string, ...args: unknown[]): void;
  /** Whether this namespace prints (check before building costly arguments). */
  readonly enabled: boolean;
}

/** The logger of one namespace, e.g. `quark:connection`. */
export function debugLog(namespace: string): DebugLogger {
  return createDebug(namespace);
}
