/**
 * Qpid Proton peers for interop suites: Debian's /usr/bin/python3 with the `proton` module, and
 * Proton's C example broker compiled with gcc at test time.
 *
 * Every function throws a clear error when a peer is missing: interop suites call them in
 * `beforeAll`, so a machine without the peers FAILS the suite (never skips it), as CI requires.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The only Python the Debian package python3-qpid-proton is installed for. */
export const PYTHON = '/usr/bin/python3';
/** Where libqpid-proton11-dev-examples puts the C examples. */
export const PROTON_C_EXAMPLES = '/usr/share/proton/examples/c';
/** A header of libqpid-proton11-dev that the broker needs. */
const PROTON_HEADER = '/usr/include/proton/proactor.h';
const GCC = 'gcc';

function ciNote(): string {
  return process.env.CI ? ' This is CI: interop suites must run here, they are never skipped.' : '';
}

function missing(what: string, fix: string, detail?: string): Error {
  return new Error(`${what} is missing${detail ? ` (${detail.trim()})` : ''}. ${fix}${ciNote()}`);
}

let pythonChecked: string | undefined;

/** Returns the path of a Python with Qpid Proton, or throws saying how to install it. */
export function requirePythonProton(): string {
  if (pythonChecked) return pythonChecked;
  if (!existsSync(PYTHON)) {
    throw missing(
      PYTHON,
      "Install Debian's python3 and python3-qpid-proton: `apt-get install python3 python3-qpid-proton`.",
    );
  }
  const r = spawnSync(PYTHON, ['-c', 'import proton, proton.utils; print(proton.VERSION)'], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  if (r.status !== 0) {
    throw missing(
      `The Qpid Proton Python module for ${PYTHON}`,
      "Install it with `apt-get install python3-qpid-proton` (Debian's python3, not a pyenv one).",
      r.stderr || r.error?.message,
    );
  }
  pythonChecked = PYTHON;
  return PYTHON;
}

/** Checks gcc, the Proton C headers and library, and the C examples; throws saying what to install. */
export function requireProtonCompiler(): void {
  const gcc = spawnSync(GCC, ['--version'], { encoding: 'utf8', timeout: 30_000 });
  if (gcc.status !== 0)
    throw missing('gcc', 'Install it with `apt-get install gcc`.', gcc.error?.message ?? gcc.stderr);
  if (!existsSync(PROTON_HEADER)) {
    throw missing(
      `The Qpid Proton C headers (${PROTON_HEADER})`,
      'Install them with `apt-get install libqpid-proton11-dev`.',
    );
  }
  if (!existsSync(path.join(PROTON_C_EXAMPLES, 'broker.c'))) {
    throw missing(
      `Proton's C example broker (${PROTON_C_EXAMPLES}/broker.c)`,
      'Install it with `apt-get install libqpid-proton11-dev-examples`.',
    );
  }
}

/** The broker sources: broker.c and every header of the examples folder it includes, by name. */
function brokerSources(): Map<string, Buffer> {
  const sources = new Map<string, Buffer>();
  const main = readFileSync(path.join(PROTON_C_EXAMPLES, 'broker.c'));
  sources.set('broker.c', main);
  const local = new Set(readdirSync(PROTON_C_EXAMPLES).filter((f) => f.endsWith('.h')));
  const pending = [main];
  while (pending.length > 0) {
    const text = pending.pop()!.toString('utf8');
    for (const m of text.matchAll(/^\s*#\s*include\s+"([^"]+)"/gm)) {
      const name = m[1]!;
      if (sources.has(name) || !local.has(name)) continue;
      const content = readFileSync(path.join(PROTON_C_EXAMPLES, name));
      sources.set(name, content);
      pending.push(content);
    }
  }
  return sources;
}

/**
 * Compiles Proton's C broker (once per content: cached in the OS temp folder by a hash of its
 * sources, the Proton headers' version and the compiler) and returns the executable's path.
 */
export function buildProtonBroker(): string {
  requireProtonCompiler();
  const sources = brokerSources();
  const hash = createHash('sha256');
  for (const [name, content] of [...sources].sort(([a], [b]) => a.localeCompare(b)))
    hash.update(name).update('\0').update(content).update('\0');
  hash.update(readFileSync('/usr/include/proton/version.h', { flag: 'r' }));
  hash.update(spawnSync(GCC, ['--version'], { encoding: 'utf8' }).stdout ?? '');
  const dir = path.join(os.tmpdir(), `quark-proton-c-broker-${hash.digest('hex').slice(0, 16)}`);
  const exe = path.join(dir, 'broker');
  if (existsSync(exe)) return exe;
  // Build in a private folder, then rename it into place: concurrent runs never see half a build.
  const work = mkdtempSync(path.join(os.tmpdir(), 'quark-proton-c-build-'));
  try {
    for (const [name, content] of sources) writeFileSync(path.join(work, name), content);
    const r = spawnSync(GCC, ['-O2', '-o', 'broker', 'broker.c', '-lqpid-proton', '-lpthread'], {
      cwd: work,
      encoding: 'utf8',
      timeout: 120_000,
    });
    if (r.status !== 0) {
      throw new Error(
        `Compiling Proton's C broker failed (gcc exit ${String(r.status)}): ${r.stderr || r.error?.message}. It needs libqpid-proton11-dev (headers and libqpid-proton.so).${ciNote()}`,
      );
    }
    mkdirSync(path.dirname(dir), { recursive: true });
    try {
      renameSync(work, dir);
    } catch (e) {
      // Another run put its build there first: use that one.
      if (!existsSync(exe)) throw e;
    }
  } finally {
    if (existsSync(work)) rmSync(work, { recursive: true, force: true });
  }
  return exe;
}

/** A running C broker on a loopback port. */
export interface ProtonBroker {
  readonly host: string;
  readonly port: number;
  readonly url: string;
  readonly process: ChildProcess;
  /** What the broker printed so far (stdout and stderr). */
  output(): string;
  /** Kills the broker and waits for it to exit. */
  stop(): Promise<void>;
  /** Kills the broker with SIGKILL (a crash: no AMQP close, sockets dropped) and waits for it to exit. */
  kill(): Promise<void>;
}

/**
 * Starts the C broker on 127.0.0.1, on `port` or one the OS picks (port 0; the broker prints the
 * port it got). Its working folder is a fresh temp folder, so it finds no TLS certificates.
 */
export async function startProtonBroker(port = 0): Promise<ProtonBroker> {
  const exe = buildProtonBroker();
  const cwd = mkdtempSync(path.join(os.tmpdir(), 'quark-proton-broker-run-'));
  const child = spawn(exe, ['127.0.0.1', String(port)], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const cleanup = (): void => rmSync(cwd, { recursive: true, force: true });
  void exited.then(cleanup);
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    }
    cleanup();
  };
  try {
    const listening = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`Proton's C broker did not report a listening port within 10 s; it printed: ${output}`)),
        10_000,
      );
      const onData = (chunk: Buffer): void => {
        output += chunk.toString('utf8');
        const m = /listening on (\d+)/.exec(output);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
      child.once('error', (e) => {
        clearTimeout(timer);
        reject(new Error(`Proton's C broker could not be started: ${e.message}`));
      });
      void exited.then(() => {
        clearTimeout(timer);
        reject(
          new Error(
            `Proton's C broker exited (code ${String(child.exitCode)}, signal ${String(child.signalCode)}) before listening; it printed: ${output}`,
          ),
        );
      });
    });
    const kill = async (): Promise<void> => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
      cleanup();
    };
    return {
      host: '127.0.0.1',
      port: listening,
      url: `amqp://127.0.0.1:${listening}`,
      process: child,
      output: () => output,
      stop,
      kill,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** The outcome of a Python run. */
export interface PythonRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a Python script with Proton's Python (asynchronously: the event loop keeps running). */
export function runPython(script: string, args: string[], timeoutMs = 30_000): Promise<PythonRun> {
  const python = requirePythonProton();
  return new Promise<PythonRun>((resolve) => {
    execFile(
      python,
      [script, ...args],
      { encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
        resolve({ code, stdout, stderr: stderr + (error && code === null ? `\n[${error.message}]` : '') });
      },
    );
  });
}
