/**
 * The published type declarations, as an application compiles against them: a scratch project
 * outside the repository that imports every public name, type-checked with the declarations
 * included (skipLibCheck off) and only the @types an application of a Node.js library has
 * (@types/node). Internals are not in the declarations at all.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { publicTypes, publicValues } from './public-exports.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const scratchDirs: string[] = [];
afterAll(() => {
  for (const dir of scratchDirs) rmSync(dir, { recursive: true, force: true });
});

function declarationFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? declarationFiles(join(dir, e.name)) : e.name.endsWith('.d.ts') ? [join(dir, e.name)] : [],
  );
}

/** A project that uses every public name and a few calls (or `code` instead), compiled as `kind`; returns tsc's output. */
function compileScratch(kind: 'module' | 'commonjs', code?: string): string {
  const dir = mkdtempSync(join(tmpdir(), `quark-types-${kind}-`));
  scratchDirs.push(dir);
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(root, join(dir, 'node_modules', 'quark-amqp'), 'dir');
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'scratch', private: true, type: kind }));
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        noEmit: true,
        skipLibCheck: false,
        target: 'ES2022',
        lib: ['ES2022', 'ESNext.Disposable'],
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        types: ['node'],
        typeRoots: [join(root, 'node_modules', '@types')],
      },
      files: ['use.ts'],
    }),
  );
  const names = [...publicValues, ...publicTypes].join(', ');
  writeFileSync(
    join(dir, 'use.ts'),
    code ??
      `export type { ${names} } from 'quark-amqp';
import { connect, startBroker, type Connection, type Delivery, type Message } from 'quark-amqp';
export async function roundTrip(): Promise<Message<{ id: number }>> {
  const broker = await startBroker({ port: 0 });
  const connection: Connection = await connect(broker.url);
  await (await connection.createSender('q')).send({ body: { id: 1 } });
  const delivery: Delivery<{ id: number }> = await (await connection.createReceiver<{ id: number }>('q')).receive();
  delivery.accept();
  await connection.close();
  await broker.stop();
  return delivery.message;
}
`,
  );
  try {
    return execFileSync(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json')], { cwd: dir, encoding: 'utf8' });
  } catch (e) {
    return String((e as { stdout?: string }).stdout ?? e);
  }
}

describe('the published type declarations', () => {
  for (const kind of ['module', 'commonjs'] as const) {
    it(`compile in an application (${kind}) that uses every public name, with skipLibCheck off and only @types/node`, () => {
      expect(compileScratch(kind)).toBe('');
    }, 60_000);
  }

  it('let no application construct what Quark makes (connections, links, deliveries, listeners...): their constructors are protected', () => {
    const out = compileScratch(
      'module',
      `import { Connection, Delivery, Listener, Sender, Session, Transaction } from 'quark-amqp';
export const made = [Connection, Delivery, Listener, Sender, Session, Transaction].map((C) => C.name);
// @ts-expect-error the constructor is not public
new Connection();
`,
    );
    expect(out).toBe('');
    const declared = [
      'client/connection',
      'client/session',
      'client/link',
      'client/sender',
      'client/receiver',
      'client/delivery',
      'server/listener',
      'server/broker/broker',
    ];
    for (const build of ['esm', 'cjs']) {
      for (const file of declared)
        expect(readFileSync(join(root, 'dist', build, `${file}.d.ts`), 'utf8'), `${build}/${file}`).toMatch(
          /\{ protected constructor\(\);/,
        );
    }
  }, 60_000);

  it('hold no member marked @internal (stripped at build) and need no @types/debug', () => {
    for (const build of ['esm', 'cjs']) {
      for (const file of declarationFiles(join(root, 'dist', build))) {
        const text = readFileSync(file, 'utf8');
        expect(text, file).not.toMatch(/@internal/);
        expect(text, file).not.toMatch(/from ['"]debug['"]/);
      }
    }
    const connection = readFileSync(join(root, 'dist', 'esm', 'client', 'connection.d.ts'), 'utf8');
    for (const internal of ['engine', 'transport', 'emit', 'eventsWhere', 'nextLinkName', 'incoming'])
      expect(connection).not.toMatch(new RegExp(`\\b${internal}\\b\\s*[(:]`));
  });
});
