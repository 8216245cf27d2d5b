/**
 * `require`, resolving from this package: how its CommonJS dependencies (debug, rxjs) are loaded.
 * An ES module that imports a CommonJS one goes through Node's ESM-to-CommonJS bridge, whose
 * export scanner costs the process about 6 MB of memory; `require` does not. The CommonJS build
 * replaces this module with one that exports its own `require` (scripts/build.mjs).
 */
import { createRequire } from 'node:module';

// eslint-disable-next-line @typescript-eslint/ban-ts-comment -- import.meta exists only in the ESM build; the CommonJS build replaces this file
// @ts-ignore
export const packageRequire: NodeJS.Require = createRequire(import.meta.url);
