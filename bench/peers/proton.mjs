// Qpid Proton C peers of bench/cross-peer.mjs: the examples Debian ships in
// libqpid-proton11-dev-examples (/usr/share/proton/examples/c), compiled once into a cache folder
// under the OS temp dir (named after a hash of the sources, the compiler and the Proton version, so
// a change of any of them compiles again), with rusage-run.c (this folder) to measure them.
//
//   send     send.c as shipped: `send HOST PORT ADDRESS COUNT` connects (no SASL), attaches a sender
//            to ADDRESS and sends COUNT unsettled messages as credit allows, each an amqp-value map
//            {"sequence": i} (i = 1..COUNT) with message-id i; exits 0 once every one was accepted
//            ("COUNT messages sent and acknowledged")
//   receive  receive.c as shipped: `receive HOST PORT ADDRESS COUNT` connects (no SASL), attaches a
//            receiver to ADDRESS with COUNT credit at once, prints each message's body (pn_inspect)
//            on a line of its own, accepts and settles it; exits 0 after COUNT
//            ("COUNT messages received")
//   broker   broker.c with `const int WINDOW=5;` raised to 1000 (sed): `broker HOST PORT` (PORT 0
//            for any), prints "listening on PORT"; a queue per address, made on first use; it
//            accepts and settles each incoming message and sends them on pre-settled
//   run      rusage-run.c: `run PROGRAM ARGS...` runs PROGRAM and writes its CPU, peak RSS and start
//            and end times on stderr (see that file); it and the program die with the bench
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROTON_EXAMPLES = process.env.PROTON_EXAMPLES ?? '/usr/share/proton/examples/c';
/** The broker's incoming credit window in our copy (the example's 5 would throttle any producer). */
export const BROKER_WINDOW = 1000;
const here = dirname(fileURLToPath(import.meta.url));

/** The Proton version of the headers, e.g. "0.37.0", or undefined. */
function protonVersion() {
  try {
    const h = readFileSync('/usr/include/proton/version.h', 'utf8');
    const v = (name) => h.match(new RegExp(`#define\\s+PN_VERSION_${name}\\s+(\\d+)`))?.[1];
    return [v('MAJOR'), v('MINOR'), v('POINT')].join('.');
  } catch {
    return undefined;
  }
}

/**
 * Compiles (or finds compiled) the Proton C peers. Resolves with { send, receive, broker, run,
 * version, dir }, or { error } saying why they cannot be had (no examples, no compiler, no library).
 */
export function protonPeers() {
  const sources = {
    send: join(PROTON_EXAMPLES, 'send.c'),
    receive: join(PROTON_EXAMPLES, 'receive.c'),
    broker: join(PROTON_EXAMPLES, 'broker.c'),
    run: join(here, 'rusage-run.c'),
  };
  for (const [name, file] of Object.entries(sources)) {
    if (!existsSync(file))
      return {
        error: `no ${file} (${name === 'run' ? 'bench/peers is incomplete' : 'apt-get install libqpid-proton11-dev-examples libqpid-proton11-dev'})`,
      };
  }
  let gcc;
  try {
    gcc = execFileSync('gcc', ['-dumpfullversion'], { encoding: 'utf8' }).trim();
  } catch {
    return { error: 'no gcc on PATH' };
  }
  const version = protonVersion();
  const text = Object.fromEntries(Object.entries(sources).map(([k, f]) => [k, readFileSync(f, 'utf8')]));
  const window = 'const int WINDOW=5;';
  if (!text.broker.includes(window)) return { error: `broker.c has no "${window}" line to raise` };
  text.broker = text.broker.replace(window, `const int WINDOW=${BROKER_WINDOW};`);
  const hash = createHash('sha256').update(JSON.stringify({ text, gcc, version })).digest('hex').slice(0, 16);
  const dir = join(tmpdir(), `quark-bench-proton-${hash}`);
  const out = {
    send: join(dir, 'send'),
    receive: join(dir, 'receive'),
    broker: join(dir, 'broker'),
    run: join(dir, 'rusage-run'),
  };
  if (Object.values(out).every((f) => existsSync(f))) return { ...out, version, dir, gcc };
  // Compile into a fresh folder, then move it into place (a concurrent run compiles its own).
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    for (const name of Object.keys(sources)) {
      const src = join(tmp, `${name === 'run' ? 'rusage-run' : name}.c`);
      writeFileSync(src, text[name]);
      const bin = join(tmp, name === 'run' ? 'rusage-run' : name);
      const args =
        name === 'run'
          ? ['-O2', '-o', bin, src]
          : ['-O2', `-I${PROTON_EXAMPLES}`, '-o', bin, src, '-lqpid-proton', '-lpthread'];
      execFileSync('gcc', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    }
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    return {
      error: `compiling the Proton C examples failed: ${String(e.stderr ?? e.message)
        .trim()
        .split('\n')
        .slice(0, 5)
        .join(' | ')}`,
    };
  }
  return { ...out, version, dir, gcc };
}
