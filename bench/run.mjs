// Runs the benchmarks, each in its own Node process (so one benchmark's JIT state and garbage do
// not colour the next). `npm run bench` builds dist/ first, then runs this.
//
// Usage: node bench/run.mjs [NAME...] [--quick] [--json]
//   NAME     run only these benchmarks (e.g. `codec`); default: all of BENCHMARKS, in order
//   --quick  shorter warm-up and rounds (a smoke test, not a measurement); other flags pass through
//
// To add a benchmark: write bench/NAME.mjs (a standalone script that prints its own results and
// exits non-zero if its checks fail) and add it to BENCHMARKS below.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The benchmarks, in the order they run. */
const BENCHMARKS = [
  'codec.mjs',
  'sockets.mjs',
  'peer.mjs',
  'reconnect.mjs',
  'cross-peer.mjs',
  'large-message.mjs',
  'large-in-flight.mjs',
];

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const args = process.argv.slice(2);
const names = args.filter((a) => !a.startsWith('--'));
const flags = args.filter((a) => a.startsWith('--'));

if (!existsSync(join(root, 'dist', 'esm', 'index.js'))) {
  console.error('bench: dist/esm is missing; run `npm run build` first (or `npm run bench`, which builds)');
  process.exit(1);
}

const unlisted = readdirSync(here).filter((f) => f.endsWith('.mjs') && f !== 'run.mjs' && !BENCHMARKS.includes(f));
if (unlisted.length > 0) console.warn(`bench: not run (add to BENCHMARKS in bench/run.mjs): ${unlisted.join(', ')}`);

const unknown = names.filter((n) => !BENCHMARKS.includes(n.endsWith('.mjs') ? n : `${n}.mjs`));
if (unknown.length > 0) {
  console.error(
    `bench: unknown benchmark ${unknown.join(', ')}; known: ${BENCHMARKS.map((b) => basename(b, '.mjs')).join(', ')}`,
  );
  process.exit(2);
}
const selected =
  names.length === 0 ? BENCHMARKS : BENCHMARKS.filter((b) => names.some((n) => b === n || b === `${n}.mjs`));

const failed = [];
for (const file of selected) {
  console.log(`\n=== bench/${file} ===\n`);
  const started = process.hrtime.bigint();
  // Every benchmark gets every flag and takes the ones it knows (BENCH_RUN_ALL: see bench/peers/bench-flags.mjs).
  const result = spawnSync(process.execPath, [join(here, file), ...flags], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, BENCH_RUN_ALL: '1' },
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (result.status !== 0) {
    failed.push(file);
    console.error(`\nbench/${file} FAILED (${result.signal ?? `exit ${result.status}`}) after ${seconds.toFixed(1)} s`);
  } else {
    console.log(`\n(bench/${file}: ${seconds.toFixed(1)} s)`);
  }
}
if (failed.length > 0) {
  console.error(`\nbench: ${failed.length} of ${selected.length} failed: ${failed.join(', ')}`);
  process.exit(1);
}
