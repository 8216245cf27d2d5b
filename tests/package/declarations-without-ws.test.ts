import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'quark-types-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

it('the published declarations compile in a project that has rxjs and @types/node but not ws or @types/ws', () => {
  // The package as installed: its declarations and package.json only, beside the two type packages a user has.
  const pkg = join(scratch, 'node_modules', 'quark-amqp');
  mkdirSync(join(pkg, 'dist'), { recursive: true });
  cpSync(join(root, 'dist', 'esm'), join(pkg, 'dist', 'esm'), {
    recursive: true,
    filter: (src) => !src.endsWith('.js') && !src.endsWith('.map'),
  });
  cpSync(join(root, 'package.json'), join(pkg, 'package.json'));
  mkdirSync(join(scratch, 'node_modules', '@types'), { recursive: true });
  symlinkSync(join(root, 'node_modules', 'rxjs'), join(scratch, 'node_modules', 'rxjs'));
  symlinkSync(join(root, 'node_modules', '@types', 'node'), join(scratch, 'node_modules', '@types', 'node'));
  writeFileSync(join(scratch, 'package.json'), '{ "type": "module" }\n');
  writeFileSync(
    join(scratch, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        target: 'ES2022',
        lib: ['ES2022', 'ESNext.Disposable'],
        noEmit: true,
        skipLibCheck: false,
        types: ['node'],
      },
      include: ['app.ts'],
    }),
  );
  writeFileSync(
    join(scratch, 'app.ts'),
    `import { connect, listen, WebSocketError, type WebSocketConnectOptions, type WebSocketListenOptions } from 'quark-amqp';
const ws: WebSocketConnectOptions = { headers: { Authorization: 'Bearer x' } };
const server: WebSocketListenOptions = { port: 0, path: '/amqp' };
export async function main(): Promise<void> {
  const listener = await listen({ tcp: false, websocket: server });
  const connection = await connect({ url: listener.websocketUrl, websocket: ws }).catch((e: unknown) => (e instanceof WebSocketError ? undefined : Promise.reject(e)));
  await connection?.close();
}
`,
  );
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const run = (): string => {
    try {
      return execFileSync(process.execPath, [tsc, '-p', scratch], { cwd: scratch, encoding: 'utf8' });
    } catch (e) {
      return String((e as { stdout?: string }).stdout) || String(e);
    }
  };
  expect(run()).toBe('');
});
