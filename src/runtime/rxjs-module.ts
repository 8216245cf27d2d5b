/**
 * rxjs, loaded on first use. Only the RxJS views (`events$`, `deliveries$()`, `links$`,
 * `sendTo()`) need it, and loading it costs a process about 11 MB, so an application that never
 * touches them never pays. It is loaded with `require`, which in Node.js resolves to the same
 * rxjs build as `import 'rxjs'` does, so Observables made here and in the application are one
 * kind.
 */
import type * as Rx from 'rxjs';
import { packageRequire } from './package-require.js';

let loaded: typeof Rx | undefined;

/** The rxjs module. */
export function rxjs(): typeof Rx {
  return (loaded ??= packageRequire('rxjs') as typeof Rx);
}
