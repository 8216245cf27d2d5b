/**
 * rxjs, loaded on first use. Only the RxJS views (`events$`, `deliveries$()`, `links$`,
 * `sendTo()`) need it, and loading it costs a process about 11 MB, so an application that never
 * touches them never pays. It is loaded with `require`, which in Node.js resolves to the same
 * rxjs build as `import 'rxjs'` does, so Observables made here and in the application are one
 * kind. rxjs is an optional peer dependency: without it the rest of Quark works, and the first
 * RxJS view used throws `MissingDependencyError`.
 */
import type * as Rx from 'rxjs';
import { MissingDependencyError } from '../errors.js';
import { packageRequire } from './package-require.js';

let loaded: typeof Rx | undefined;

/**
 * The rxjs module.
 * @param feature what needs it, for the error when rxjs is not installed (e.g. `connection.events$`)
 */
export function rxjs(feature = 'this RxJS view'): typeof Rx {
  return (loaded ??= load(feature));
}

function load(feature: string): typeof Rx {
  try {
    return packageRequire('rxjs') as typeof Rx;
  } catch (e) {
    // Only rxjs itself missing; a broken rxjs install (a file of it missing) is another problem.
    if (isMissing(e, 'rxjs')) throw new MissingDependencyError('rxjs', feature, e);
    throw e;
  }
}

function isMissing(error: unknown, packageName: string): boolean {
  const e = error as { code?: unknown; message?: unknown };
  return (
    e.code === 'MODULE_NOT_FOUND' &&
    typeof e.message === 'string' &&
    e.message.startsWith(`Cannot find module '${packageName}'`)
  );
}
