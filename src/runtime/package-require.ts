/**
 * `require`, resolving from this package: how its CommonJS dependencies (debug, rxjs) are loaded.
 * An ES module that imports a CommonJS one goes through Node's ESM-to-CommonJS bridge, which
 * costs memory; `require` does not. (The CommonJS build gets import.meta.url from its bundler:
 * scripts/build.mjs.)
 */
import { createRequire } from 'node:module';

// eslint-disable-next-line @typescript-eslint/ban-ts-comment -- tsc's CommonJS pass, which only writes declarations, rejects import.meta
// @ts-ignore
export const packageRequire: NodeJS.Require = createRequire(import.meta.url);
