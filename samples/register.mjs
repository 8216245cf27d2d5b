// Lets Node run the TypeScript samples straight from source, with no build and no extra dependency:
//   node --import ./samples/register.mjs samples/helloworld.ts
// Each .ts file is transpiled on load with the project's own `typescript` (types are not checked;
// `npm run typecheck` does that). Works on Node 20.6 and later.
import { register } from 'node:module';

register('./support/ts-hooks.mjs', import.meta.url);
