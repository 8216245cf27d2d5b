/**
 * Programs a test runs as child processes (samples, Proton's Python tutorial programs): their
 * output as it comes, their end, and a way to wait for a line. Every program still running is
 * killed by `killPrograms()` (call it in afterEach), so a failed test leaves no process behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** How a program ended. */
export interface ProgramRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A program running: its output so far, and its end. */
export interface RunningProgram {
  child: ChildProcess;
  stdout(): string;
  done: Promise<ProgramRun>;
  /** Resolves with the first match of `pattern` in stdout; rejects if the program ends first. */
  waitFor(pattern: RegExp): Promise<RegExpMatchArray>;
}

const running = new Set<ChildProcess>();

/** Starts `command args` in `cwd`; it is killed after `timeoutMs`. */
export function startProgram(command: string, args: string[], cwd: string, timeoutMs: number): RunningProgram {
  const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let stdout = '';
  let stderr = '';
  const watchers: (() => void)[] = [];
  child.stdout!.on('data', (b: Buffer) => {
    stdout += b.toString();
    for (const w of [...watchers]) w();
  });
  child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const done = new Promise<ProgramRun>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      running.delete(child);
      for (const w of [...watchers]) w();
      resolve({ code, stdout, stderr });
    });
  });
  const waitFor = (pattern: RegExp): Promise<RegExpMatchArray> =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const check = (): void => {
        const m = stdout.match(pattern);
        if (m) {
          watchers.splice(watchers.indexOf(check), 1);
          resolve(m);
        } else if (child.exitCode !== null || child.signalCode !== null) {
          watchers.splice(watchers.indexOf(check), 1);
          reject(
            new Error(`${command} ${args.join(' ')} ended before printing ${String(pattern)}:\n${stdout}\n${stderr}`),
          );
        }
      };
      watchers.push(check);
      check();
    });
  return { child, stdout: () => stdout, done, waitFor };
}

/** Kills every program still running. */
export function killPrograms(): void {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
}

/** The repository's root: samples run from there, as their headers say (`node samples/X.mjs ...`). */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Starts `samples/<sample>` on the build in dist/ (the global setup builds it); killed after `timeoutMs`. */
export function startSample(sample: string, args: string[] = [], timeoutMs = 40_000): RunningProgram {
  return startProgram(process.execPath, [`samples/${sample}`, ...args], ROOT, timeoutMs);
}

/** Runs a sample to its end and returns its output; throws with that output if it exits non-zero or writes to stderr. */
export async function runSampleOk(sample: string, args: string[] = [], timeoutMs = 40_000): Promise<string> {
  const r = await startSample(sample, args, timeoutMs).done;
  if (r.code !== 0 || r.stderr !== '')
    throw new Error(`${sample} ${args.join(' ')} exited ${String(r.code)}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}
