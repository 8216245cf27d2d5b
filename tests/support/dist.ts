/**
 * Makes sure dist/ (what the .mjs samples import) is built from the current sources: builds it
 * with `npm run build` when dist/esm/index.js is missing or older than a file under src/. Test
 * files that run the samples call it in `beforeAll` (give the hook about two minutes).
 *
 * Builds are serialised across test files and processes with a lock directory, since the build
 * first deletes dist/.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ENTRY = path.join(ROOT, 'dist/esm/index.js');
const LOCK = path.join(ROOT, 'node_modules/.cache/quark-build.lock');

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(p) : statSync(p).mtimeMs);
  }
  return newest;
}

function isFresh(): boolean {
  try {
    return statSync(ENTRY).mtimeMs >= newestSource(path.join(ROOT, 'src'));
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Builds dist/ unless it is up to date; throws with the compiler's output when the build fails. */
export async function ensureDistBuilt(): Promise<void> {
  if (isFresh()) return;
  mkdirSync(path.dirname(LOCK), { recursive: true });
  const deadline = Date.now() + 110_000;
  while (true) {
    try {
      mkdirSync(LOCK);
      break;
    } catch {
      // Someone else builds; a lock older than two minutes was left by a killed run.
      try {
        if (Date.now() - statSync(LOCK).mtimeMs > 120_000) rmSync(LOCK, { recursive: true, force: true });
      } catch {
        // it went away meanwhile
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for another build of dist/ (lock ${LOCK})`);
      await sleep(200);
    }
  }
  try {
    if (isFresh()) return;
    const r = spawnSync('npm', ['run', 'build'], { cwd: ROOT, encoding: 'utf8', timeout: 110_000 });
    if (r.status !== 0) {
      throw new Error(`npm run build failed (exit ${String(r.status)}${r.error ? `, ${r.error.message}` : ''}), so dist/ cannot be used:\n${r.stdout}\n${r.stderr}`);
    }
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}
