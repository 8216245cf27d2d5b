import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { publicTypes, publicValues } from './public-exports.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const run = (code: string, type: 'commonjs' | 'module'): string =>
  execFileSync(process.execPath, [type === 'module' ? '--input-type=module' : '--input-type=commonjs', '-e', code], {
    cwd: root,
    encoding: 'utf8',
  });
const sorted = (names: readonly string[]): string[] => [...names].sort();

/** What src/index.ts exports, as the compiler sees it: run-time values and type-only names apart. */
function indexExports(): { values: string[]; types: string[] } {
  const program = ts.createProgram([`${root}src/index.ts`], {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    strict: true,
    types: [],
  });
  const checker = program.getTypeChecker();
  const index = checker.getSymbolAtLocation(program.getSourceFile(`${root}src/index.ts`)!)!;
  const values: string[] = [];
  const types: string[] = [];
  for (const symbol of checker.getExportsOfModule(index)) {
    const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
    (target.flags & ts.SymbolFlags.Value ? values : types).push(symbol.name);
  }
  return { values: values.sort(), types: types.sort() };
}

describe('the package as a user installs it', () => {
  it('require("quark-amqp") loads the CommonJS build with the public API', () => {
    const out = run(
      `const q = require('quark-amqp'); const b = q.encodeMessage({ body: q.ulong(5n) }); console.log(typeof q.connect, q.decodeMessage(b, { values: 'exact' }).body.type);`,
      'commonjs',
    );
    expect(out.trim()).toBe('function ulong');
  });

  it('import from "quark-amqp" loads the ESM build with the same API', () => {
    const out = run(
      `import { connect, startBroker, decodeMessage, encodeMessage, symbol } from 'quark-amqp'; console.log(typeof connect, typeof startBroker, decodeMessage(encodeMessage({ body: symbol('x') }), { values: 'exact' }).body.type);`,
      'module',
    );
    expect(out.trim()).toBe('function function symbol');
  });

  it('src/index.ts exports exactly the public names, values and types (an addition or a removal is an API change: update public-exports.ts)', () => {
    const { values, types } = indexExports();
    expect(values).toEqual(sorted(publicValues));
    expect(types).toEqual(sorted(publicTypes));
  }, 60_000);

  it('the CommonJS and ESM builds export exactly the public values, nothing else', () => {
    const cjs = JSON.parse(
      run(`console.log(JSON.stringify(Object.keys(require('quark-amqp'))))`, 'commonjs'),
    ) as string[];
    const esm = JSON.parse(
      run(`const q = await import('quark-amqp'); console.log(JSON.stringify(Object.keys(q)))`, 'module'),
    ) as string[];
    expect(sorted(cjs)).toEqual(sorted(publicValues));
    expect(sorted(esm)).toEqual(sorted(publicValues));
  });

  for (const type of ['commonjs', 'module'] as const) {
    it(`loads rxjs only when an RxJS view is first used, and it is the application's rxjs (${type})`, () => {
      const load =
        type === 'module'
          ? `const q = await import('quark-amqp'); const { createRequire } = await import('node:module'); const require = createRequire(process.cwd() + '/');`
          : `const q = require('quark-amqp');`;
      const code = `(async () => { ${load}
        const rxLoaded = () => Object.keys(require.cache).some((k) => k.includes('/node_modules/rxjs/'));
        const before = rxLoaded();
        const listener = await q.listen({ port: 0 });
        (async () => { for await (const link of listener) link.acceptAsReceiver(); })();
        const connection = await q.connect(listener.url);
        await connection.createSender('q');
        const stillNot = rxLoaded();
        const events = connection.events$;
        const after = rxLoaded();
        const { Observable } = require('rxjs');
        console.log(before, stillNot, after, events instanceof Observable);
        await connection.close();
        await listener.close();
      })();`;
      expect(run(code, type).trim()).toBe('false false true true');
    });
  }
});
