// Quark against peers that are not Quark, side by side in one run, over loopback (127.0.0.1): is it
// fast against every peer, not only against itself? Each library under test and each peer runs in
// a process of its own (Node peers: bench/peers/node-peer.mjs; Proton C: the examples shipped in
// /usr/share/proton/examples/c, compiled once into the OS temp dir by bench/peers/proton.mjs).
//
// Scenarios (N = 100,000 messages measured, after a warm-up of W = 10,000 (--warmup) over the same
// connection or the same peer program; --quick: N/10 and W/10, one round):
//   rx-rhea    RECEIVER against a rhea sender (and the bare-socket floor for the same frames at the
//              same pace, bench/peers/bare-sockets.mjs): a rhea listener sends, to each receiver that attaches,
//              its N unsettled 100 B messages (binary body, sequence number in the first 4 bytes, a
//              check byte last) as fast as credit allows. The receiver (credit 1,000, accepts each)
//              connects: Quark's for-await receiver (`for await (const d of receiver) d.accept()`)
//              and rhea's (autoaccept false, accept each, credit_window 1000, tcp_no_delay)
//   rx-trickle RECEIVER fed at a broker's pace: the rhea listener sends its N messages pre-settled,
//              two per turn of its event loop (how broker.c fed Quark's consumer behind a backlog:
//              a read or two per message); receivers: Quark's and rhea's (as in rx-rhea) and Proton
//              C's receive.c (N credit at once, prints each body), so that consumers' CPU per
//              message compares under the same feed
//   rx-proton  RECEIVER against Proton C's send.c: Quark (listen() + acceptAsReceiver) and rhea
//              (container.listen) listen, send.c connects and sends its N messages (an amqp-value
//              map {"sequence": i}, i = 1..N, with a message-id: about 40 bytes, not 100)
//   tx-proton  SENDER against Proton C's receive.c: Quark (listen() + acceptAsSender) and rhea
//              listen, receive.c connects with N credit at once, prints each body (to a file),
//              accepts and settles each
//   tx-rhea    SENDER into a rhea receiver: a rhea listener (credit_window 1000, accepts each);
//              Quark's and rhea's senders connect and send N 100 B messages
//   broker-proton    THROUGH Proton C's broker.c (its WINDOW raised from 5 to 1000), one producer
//              and one consumer process per client: Quark, rhea, and Proton C's own send.c and
//              receive.c; N messages end to end (the broker sends them on pre-settled). Its queue
//              is a vector that memmoves the rest at every pop, so a backlog (a producer faster
//              than the consumer) makes each forwarded message cost the broker more: read the
//              broker's CPU per message beside the end-to-end rate
//   broker-rabbitmq  THROUGH RabbitMQ (scripts/rabbitmq.sh, QUARK_RABBITMQ_PORT, default 5673),
//              address /queue/bench-<random>-<client>-<run>[-warm]; Quark and rhea log in as guest/guest (SASL
//              PLAIN); send.c and receive.c cannot do SASL: they connect without it, which RabbitMQ
//              3.x takes as its default user (guest). A queue per run and phase (warm-up, measured):
//              RabbitMQ may put back messages a consumer accepted just before it closed (receive.c
//              closes at once after its last accept), and those must not reach the next phase; what
//              is left on them at the end is reported, then they are deleted. The node is
//              started with --owner <this pid> and stopped with it (so only if we started it and
//              nobody else uses it)
//
// Same settings for Quark and rhea: receiver credit 1,000 and explicit accept of each message;
// senders wait for every outcome (unsettled, at-least-once); Quark's sender keeps at most 2,000
// sends unresolved (it queues any number; rhea sends while sendable(), which its session window
// bounds at 2,048 unsettled); TCP_NODELAY; max-frame-size 262144.
//
// Figures, per library (median of the rounds; peak RSS: the largest):
//   msgs/s     N / time, in the process under test, from its link's attach (connect: the attach
//              request; listen: the peer's attach arriving) to its last message received (receiver)
//              or settled (sender). Through a broker: from the producer's attach request to the
//              consumer's last message (both Node processes read CLOCK_MONOTONIC); for send.c and
//              receive.c, from send.c's exec to receive.c's exit (so theirs include send.c's start,
//              connect and SASL-less handshake, and receive.c's close: about a millisecond)
//   CPU us/msg user+sys CPU (and the sys part: system calls, mostly the socket reads and writes)
//              of the process under test (process.cpuUsage) over the measured part
//              (from arming the measured phase to after the last disposition), divided by N;
//              Proton C processes: their whole life (wait4 rusage, via bench/peers/rusage-run.c)
//   peak RSS   process.resourceUsage().maxRSS (C: ru_maxrss)
//   peer       the other side's CPU per message (and, for a rhea peer, its reads and writes per
//              1,000 messages): a receiver that writes more often makes its sender read more often
//   broker CPU broker.c: its whole life (a fresh broker per run), over W + N messages; RabbitMQ:
//              its Erlang VM's utime + stime from /proc over the run (warm-up included, and
//              whatever else the node did meanwhile), over W + N messages
//   reads, writes per 1,000 messages, of the Node process under test (bench/peers/socket-count.cjs,
//              preloaded in every Node peer process): reads are 'data' events of its TCP sockets;
//              writes are the writes handed to the socket's handle (one per _write or _writev:
//              what reaches libuv, about one send syscall each); write() calls are what the library
//              asked for (several may be merged into one handle write by cork or by queueing)
// Every message is checked (sequence, size, check byte) and every count must be exact (receivers:
// N received; senders: N accepted; Proton's programs: their exit status and their own count, and
// receive.c's printed bodies are checked in order), or the run fails (exit 1).
//
// Usage: node bench/cross-peer.mjs [SCENARIO...] [--quick] [--json] [--rounds=R] [--count=N]
//                                  [--warmup=W] [--timeout=S] [--total-timeout=S] [--no-rabbitmq]
//   --rounds=R         rounds per library (default 3, quick 1), rotating which library goes first
//   --count=N          messages measured (default 100,000; quick 10,000)
//   --warmup=W         messages before the measured ones (default N/10), to see how much of a
//                      figure is the JIT still compiling (rx-rhea on 2026-12-06: the same ratios
//                      within noise at W = 10,000 and at W = 100,000)
//   --timeout=S        seconds one library's run of a scenario may take (default 120); then its
//                      processes are killed and it fails
//   --total-timeout=S  seconds the whole bench may take (default 1800); then everything is killed
//   --no-rabbitmq      skip broker-rabbitmq
//   QUARK_DIST=path/to/index.js   load Quark from another build than ../dist/esm/index.js
//   CROSS_PEER_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof'   extra node options for every Node
//                                 peer process (diagnostics)
import { execFileSync, fork, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { BROKER_WINDOW, protonPeers } from './peers/proton.mjs';
import { measureBareSockets } from './peers/bare-sockets.mjs';
import { benchFlags } from './peers/bench-flags.mjs';

const require = createRequire(import.meta.url);
const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const PEER = join(here, 'peers', 'node-peer.mjs');
const COUNTER = join(here, 'peers', 'socket-count.cjs');
const HOST = '127.0.0.1';
const SIZE = 100;
const CREDIT = 1000;
const QUARK_CAP = 2000;
const MAX_FRAME_SIZE = 262144;
/** rx-trickle: messages the rhea sender sends per turn of its event loop. */
const TRICKLE_BURST = 2;

const SCENARIOS = {
  'rx-rhea': {
    title:
      '1. RECEIVER against a rhea sender (rhea listener sends N unsettled 100 B messages to each receiver that attaches, as fast as credit allows; receiver connects, credit 1,000, accepts each)',
    kind: 'rx',
    libs: ['quark', 'rhea'],
  },
  'rx-trickle': {
    title:
      "1. RECEIVER fed at a broker's pace (a rhea listener sends N pre-settled 100 B messages, two per turn of its event loop, as broker.c fed Quark's consumer behind a backlog; the receiver connects, credit 1,000 (receive.c: N at once), accepts each): Quark, rhea, and Proton C's receive.c",
    kind: 'rx',
    libs: ['quark', 'rhea', 'proton'],
  },
  'rx-proton': {
    title:
      '1. RECEIVER against Proton C\'s send.c (Quark / rhea listen; send.c connects and sends N unsettled amqp-value maps {"sequence": i}; receiver credit 1,000, accepts each)',
    kind: 'rx',
    libs: ['quark', 'rhea'],
  },
  'tx-proton': {
    title:
      "1. SENDER against Proton C's receive.c (Quark / rhea listen; receive.c connects, grants N credit at once, accepts and settles each; 100 B messages)",
    kind: 'tx',
    libs: ['quark', 'rhea'],
  },
  'tx-rhea': {
    title:
      '2. SENDER into a rhea receiver (rhea listener, credit_window 1000, accepts each; the sender connects and sends N unsettled 100 B messages)',
    kind: 'tx',
    libs: ['quark', 'rhea'],
  },
  'broker-proton': {
    title: `3a. THROUGH Proton C's broker.c (WINDOW ${BROKER_WINDOW}; pre-settled to consumers), one producer and one consumer process per client, N messages end to end`,
    kind: 'broker',
    libs: ['quark', 'rhea', 'proton'],
  },
  'broker-rabbitmq': { title: 'THROUGH RabbitMQ', kind: 'broker', libs: ['quark', 'rhea', 'proton'] },
};
const LIB_NAME = { quark: 'Quark', rhea: 'rhea', proton: 'Proton C' };

// =====================================================================================
// Options
// =====================================================================================

const args = process.argv.slice(2);
const { flags, quick } = benchFlags(args, [
  'json',
  'rounds',
  'count',
  'warmup',
  'timeout',
  'total-timeout',
  'no-rabbitmq',
]);
const json = flags.has('json');
const N = Number(flags.get('count') ?? (quick ? 10_000 : 100_000));
const W = Number(flags.get('warmup') ?? Math.max(100, Math.round(N / 10)));
/** The phases of every run, [messages, measured]: the warm-up, then the measured one. */
const PHASES = [
  [W, false],
  [N, true],
];
const ROUNDS = Number(flags.get('rounds') ?? (quick ? 1 : 3));
const RUN_TIMEOUT_S = Number(flags.get('timeout') ?? 120);
const TOTAL_TIMEOUT_S = Number(flags.get('total-timeout') ?? 1800);
const names = args.filter((a) => !a.startsWith('--'));
const unknown = names.filter((n) => !(n in SCENARIOS));
if (
  unknown.length > 0 ||
  !(N >= 100) ||
  !(W >= 100) ||
  !(ROUNDS >= 1) ||
  !(RUN_TIMEOUT_S > 0) ||
  !(TOTAL_TIMEOUT_S > 0)
) {
  console.error(
    `cross-peer bench: unknown scenario ${unknown.join(', ')} (known: ${Object.keys(SCENARIOS).join(', ')}), or a bad --count, --warmup, --rounds or --timeout`,
  );
  process.exit(2);
}
const selected = (names.length > 0 ? names : Object.keys(SCENARIOS)).filter(
  (n) => !(n === 'broker-rabbitmq' && flags.has('no-rabbitmq')),
);
const say = (...a) => {
  if (!json) console.log(...a);
};

// =====================================================================================
// Processes: every child is tracked and killed when the bench ends, however it ends
// =====================================================================================

const children = new Set();
const killAll = () => {
  for (const c of children) {
    try {
      c.kill('SIGKILL');
    } catch {
      // gone already
    }
  }
};
let rabbit; // { port, registered, queues } once scripts/rabbitmq.sh start --owner <pid> was called
process.on('exit', () => {
  killAll();
  if (rabbit?.registered) stopRabbitSync();
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    console.error(`cross-peer bench: ${sig}: killing every child process`);
    process.exit(sig === 'SIGINT' ? 130 : 143);
  });
}
const watchdog = setTimeout(() => {
  console.error(
    `cross-peer bench: FAILED: the whole bench took more than ${TOTAL_TIMEOUT_S} s (--total-timeout): killing every child process`,
  );
  process.exit(1);
}, TOTAL_TIMEOUT_S * 1000);
watchdog.unref();

/** A Node peer (bench/peers/node-peer.mjs) with `next(type)` for its messages and `post(msg)`. */
function forkPeer(run, cfg, label) {
  const execArgv = ['--require', COUNTER, ...(process.env.CROSS_PEER_NODE_ARGS ?? '').split(' ').filter(Boolean)];
  const c = fork(PEER, [JSON.stringify({ size: SIZE, maxFrameSize: MAX_FRAME_SIZE, cap: QUARK_CAP, ...cfg })], {
    execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.add(c);
  run.children.push(c);
  c.label = label;
  const inbox = [];
  const waiting = [];
  let failure;
  c.exited = new Promise((res) =>
    c.once('exit', (code, signal) => {
      children.delete(c);
      res({ code, signal });
    }),
  );
  const onFailure = (err) => {
    failure ??= err;
    for (const w of waiting.splice(0)) w.reject(failure);
  };
  c.on('message', (m) => {
    if (m.type === 'error') return onFailure(new Error(`${label}: ${m.message}`));
    const i = waiting.findIndex((w) => w.type === m.type);
    if (i >= 0) waiting.splice(i, 1)[0].resolve(m);
    else inbox.push(m);
  });
  c.once('exit', (code, signal) =>
    onFailure(new Error(`${label} exited (${signal ?? `code ${code}`}) before it was done`)),
  );
  c.next = (type) => {
    const i = inbox.findIndex((m) => m.type === type);
    if (i >= 0) return Promise.resolve(inbox.splice(i, 1)[0]);
    if (failure) return Promise.reject(failure);
    return new Promise((resolve, reject) => waiting.push({ type, resolve, reject }));
  };
  c.post = (m) => {
    if (c.connected) c.send(m);
  };
  /** Sends a command and waits for its answer. */
  c.ask = (m, answer) => {
    const p = c.next(answer);
    c.post(m);
    return p;
  };
  return c;
}

/**
 * A Proton C program under rusage-run: `done` resolves once it has ended, with its exit code,
 * stdout (unless sent to a file), stderr and rusage { cpuUs, maxRssKb, start, end } (hrtime ns).
 */
function startC(run, bins, program, argv, { label, stdoutFile, onStdout } = {}) {
  const fd = stdoutFile ? openSync(stdoutFile, 'w') : undefined;
  const p = spawn(bins.run, [program, ...argv.map(String)], { cwd: bins.dir, stdio: ['ignore', fd ?? 'pipe', 'pipe'] });
  if (fd !== undefined) closeSync(fd);
  children.add(p);
  run.children.push(p);
  p.label = label;
  let stdout = '';
  let stderr = '';
  p.stdout?.on('data', (d) => {
    if (stdout.length < 1 << 16) stdout += d;
    onStdout?.(stdout);
  });
  p.stderr.on('data', (d) => {
    if (stderr.length < 1 << 16) stderr += d;
  });
  p.done = new Promise((res) =>
    p.once('close', (code, signal) => {
      children.delete(p);
      const m = stderr.match(/^RUSAGE (\d+) (\d+) (\d+) (\d+) (\d+) (-?\d+)$/m);
      const rusage = m
        ? { cpuUs: Number(m[1]) + Number(m[2]), maxRssKb: Number(m[3]), start: BigInt(m[4]), end: BigInt(m[5]) }
        : undefined;
      res({ code, signal, stdout, stderr: stderr.replace(/^RUSAGE .*\n?/m, '').trim(), rusage });
    }),
  );
  return p;
}

/** Runs `body(run)` with a hard time limit; every process it started is killed when it ends. */
async function withRun(label, body) {
  const run = { children: [] };
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => {
      const nodes = run.children.filter((c) => c.ask && c.connected);
      const said = nodes.map((c) =>
        Promise.race([
          c.ask({ type: 'progress' }, 'progress').then(
            (m) => `${c.label}: ${m.text}`,
            () => `${c.label}: gone`,
          ),
          sleep(1000).then(() => `${c.label}: no answer`),
        ]),
      );
      void Promise.all(said).then((texts) =>
        reject(
          new Error(
            `${label}: timed out after ${RUN_TIMEOUT_S} s (--timeout)${texts.length ? `: ${texts.join('; ')}` : ''}`,
          ),
        ),
      );
    }, RUN_TIMEOUT_S * 1000);
  });
  try {
    return await Promise.race([timeout, body(run)]);
  } finally {
    clearTimeout(timer);
    for (const c of run.children) {
      if (c.exitCode === null && c.signalCode === null) {
        c.kill('SIGKILL');
        await (c.exited ?? c.done);
      }
    }
  }
}

// =====================================================================================
// Checks
// =====================================================================================

/** Problems with a Node peer's phase-done report (receiver: n received; sender: n accepted). */
function phaseProblems(label, done, n, role) {
  const p = [];
  if (done.errors.length > 0) p.push(`${label}: ${done.errors.join('; ')}`);
  if (role === 'receiver' && done.count !== n) p.push(`${label} received ${done.count} messages, expected ${n}`);
  if (role === 'sender' && (done.settled !== n || done.accepted !== n || done.other !== 0))
    p.push(
      `${label}: ${done.accepted} accepted, ${done.other} other outcomes of ${done.settled} settled, expected ${n} accepted`,
    );
  return p;
}

/** Problems with send.c's run: exit status and its own count. */
function sendProblems(label, r, n) {
  const p = [];
  if (r.code !== 0)
    p.push(
      `${label} exited with ${r.signal ?? r.code}${r.stderr ? `: ${r.stderr.split('\n').slice(0, 3).join(' | ')}` : ''}`,
    );
  else if (!r.stdout.includes(`${n} messages sent and acknowledged`))
    p.push(`${label} did not report ${n} messages acknowledged (stdout: ${r.stdout.trim().slice(0, 200)})`);
  if (!r.rusage) p.push(`${label}: no rusage`);
  return p;
}

/**
 * Problems with receive.c's run: exit status, its own count, and the bodies it printed (one line
 * each, pn_inspect): binary bodies b"..." must carry sequence numbers 0.., maps {"sequence"=i} 1..
 */
function receiveProblems(label, r, n, file, shape) {
  const p = [];
  if (r.code !== 0)
    p.push(
      `${label} exited with ${r.signal ?? r.code}${r.stderr ? `: ${r.stderr.split('\n').slice(0, 3).join(' | ')}` : ''}`,
    );
  if (!r.rusage) p.push(`${label}: no rusage`);
  const lines = readFileSync(file, 'latin1').split('\n');
  if (lines.at(-1) === '') lines.pop();
  if (lines.at(-1) !== `${n} messages received`)
    p.push(
      `${label} did not report ${n} messages received (last line: ${JSON.stringify((lines.at(-1) ?? '').slice(0, 80))})`,
    );
  else lines.pop();
  if (lines.length !== n) p.push(`${label} printed ${lines.length} bodies, expected ${n}`);
  const bad = [];
  for (let i = 0; i < lines.length && bad.length < 3; i++) {
    const seq = shape === 'proton-map' ? mapSequence(lines[i]) : binarySequence(lines[i]);
    const want = shape === 'proton-map' ? i + 1 : i;
    if (seq !== want)
      bad.push(`body ${i}: sequence ${seq}, expected ${want} (${JSON.stringify(lines[i].slice(0, 40))})`);
  }
  if (bad.length > 0) p.push(`${label}: ${bad.join('; ')}`);
  return p;
}
const mapSequence = (line) => Number(line.match(/^\{"sequence"=(\d+)\}$/)?.[1] ?? NaN);
/** The first 4 bytes (big-endian) of a binary body as pn_inspect prints it: b"\x00\x00\x01a...". */
function binarySequence(line) {
  if (!line.startsWith('b"')) return NaN;
  let v = 0;
  let i = 2;
  for (let k = 0; k < 4; k++) {
    let byte;
    if (line[i] === '\\' && line[i + 1] === 'x') {
      byte = parseInt(line.slice(i + 2, i + 4), 16);
      i += 4;
    } else if (line[i] === '\\') {
      byte = line.charCodeAt(i + 1);
      i += 2;
    } else {
      byte = line.charCodeAt(i);
      i += 1;
    }
    if (!(byte >= 0 && byte <= 255)) return NaN;
    v = v * 256 + byte;
  }
  return v;
}

/**
 * A Proton C program's end, failing at once (not at the run's timeout) when it exits non-zero: the
 * error then carries its stderr, and `incompatible` when it reported an AMQP or SASL error
 * condition (it could not talk to the peer at all, e.g. no SASL where SASL is required).
 */
function ended(c) {
  return c.done.then((r) => {
    if (r.code === 0) return r;
    const e = new Error(
      `${c.label} exited with ${r.signal ?? r.code}${r.stderr ? `: ${r.stderr.split('\n').slice(0, 3).join(' | ')}` : ''}`,
    );
    e.incompatible = /amqp:|sasl|framing|unauthori[sz]ed|not-found/i.test(r.stderr);
    throw e;
  });
}

const ns = (a, b) => Number(BigInt(b) - BigInt(a));
const fail = (problems) => {
  if (problems.length > 0) throw new Error(problems.join('; '));
};

/** Ends a Node peer: exit command, then its exit status must be 0. */
async function exitPeer(c) {
  c.post({ type: 'exit' });
  const e = await c.exited;
  if (e.code !== 0) throw new Error(`${c.label} did not exit cleanly (${e.signal ?? e.code})`);
}

/** Arms phase n (measure or not) on every listening side, then starts it on every connecting side. */
async function phase(listenSides, connectSides, n, measure, address = 'bench') {
  for (const c of listenSides) await c.ask({ type: 'phase', n, measure }, 'armed');
  for (const c of connectSides) await c.ask({ type: 'phase', n, measure, address }, 'armed');
  return Promise.all([...listenSides, ...connectSides].map((c) => c.next('phase-done')));
}

// =====================================================================================
// Scenarios: one run of one library; each returns its figures or throws
// =====================================================================================

const nodeFigures = (stats, n) => ({
  cpuUs: stats.cpuUs / n,
  sysUs: stats.sysUs / n,
  rssMb: stats.maxRssKb / 1024,
  sock: stats.sock,
});

/** rx-rhea: a rhea listener sends (`sending`: how, see node-peer.mjs); `lib`'s receiver connects. */
async function rxRhea(run, lib, sending = {}) {
  const src = forkPeer(run, { role: 'sender', lib: 'rhea', mode: 'listen', ...sending }, 'rhea sender (listener)');
  const { port } = await src.next('ready');
  const rx = forkPeer(
    run,
    { role: 'receiver', lib, mode: 'connect', port, address: 'bench', credit: CREDIT, shape: 'binary' },
    `${lib} receiver`,
  );
  await rx.next('ready');
  const p = [];
  for (const [n, measure] of PHASES) {
    const [s, r] = await phase([src], [rx], n, measure);
    p.push(...phaseProblems(src.label, s, n, 'sender'), ...phaseProblems(rx.label, r, n, 'receiver'));
    fail(p);
    if (measure) run.timing = { start: r.tAttach, end: r.tLast };
  }
  await sleep(50); // the last dispositions and flows
  const [rs, ss] = await Promise.all([rx.ask({ type: 'stats' }, 'stats'), src.ask({ type: 'stats' }, 'stats')]);
  await exitPeer(rx);
  await exitPeer(src);
  return {
    msgsPerSec: N / (ns(run.timing.start, run.timing.end) / 1e9),
    self: nodeFigures(rs, N),
    peer: nodeFigures(ss, N),
  };
}

/**
 * The warm-up and measured phases of receive.c connecting to a Node sender that listens on
 * `port`: each body checked. Resolves with receive.c's result and the sender's report for the
 * measured phase.
 */
async function receiveCPhases(run, bins, sender, port) {
  return inScratchDir(async (dir) => {
    let measured;
    for (const [n, measure] of PHASES) {
      await sender.ask({ type: 'phase', n, measure }, 'armed');
      const file = join(dir, `receive-${n}.out`);
      const c = startC(run, bins, bins.receive, [HOST, port, 'bench', n], { label: 'receive.c', stdoutFile: file });
      const [cr, s] = await Promise.all([ended(c), sender.next('phase-done')]);
      fail([...receiveProblems('receive.c', cr, n, file, 'binary'), ...phaseProblems(sender.label, s, n, 'sender')]);
      rmSync(file, { force: true });
      if (measure) measured = { cr, s };
    }
    return measured;
  });
}

/** Runs `use` with a new directory in the OS temp dir, removed afterwards (receive.c's printed bodies go there). */
async function inScratchDir(use) {
  const dir = mkdtempSync(join(tmpdir(), 'quark-cross-peer-'));
  try {
    return await use(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** rx-trickle: a rhea listener sends pre-settled messages, TRICKLE_BURST per turn; `lib`'s receiver (or receive.c) connects. */
async function rxTrickle(run, lib, bins) {
  const sending = { settled: true, burst: TRICKLE_BURST };
  if (lib !== 'proton') return rxRhea(run, lib, sending);
  const src = forkPeer(run, { role: 'sender', lib: 'rhea', mode: 'listen', ...sending }, 'rhea sender (listener)');
  const { port } = await src.next('ready');
  const { cr } = await receiveCPhases(run, bins, src, port);
  // From receive.c's exec to its exit: its start, connect and close are in (about a millisecond).
  run.timing = { start: cr.rusage.start, end: cr.rusage.end };
  await sleep(50);
  const ss = await src.ask({ type: 'stats' }, 'stats');
  await exitPeer(src);
  return {
    msgsPerSec: N / (ns(run.timing.start, run.timing.end) / 1e9),
    self: { cpuUs: cr.rusage.cpuUs / N, rssMb: cr.rusage.maxRssKb / 1024 },
    peer: nodeFigures(ss, N),
  };
}

/** rx-proton: `lib`'s receiver listens; send.c connects and sends. */
async function rxProton(run, lib, bins) {
  const rx = forkPeer(
    run,
    { role: 'receiver', lib, mode: 'listen', credit: CREDIT, shape: 'proton-map' },
    `${lib} receiver (listener)`,
  );
  const { port } = await rx.next('ready');
  let peer;
  for (const [n, measure] of PHASES) {
    await rx.ask({ type: 'phase', n, measure }, 'armed');
    const c = startC(run, bins, bins.send, [HOST, port, 'bench', n], { label: 'send.c' });
    const [cr, r] = await Promise.all([ended(c), rx.next('phase-done')]);
    fail([...sendProblems('send.c', cr, n), ...phaseProblems(rx.label, r, n, 'receiver')]);
    if (measure) {
      run.timing = { start: r.tAttach, end: r.tLast };
      peer = { cpuUs: cr.rusage.cpuUs / n, rssMb: cr.rusage.maxRssKb / 1024 };
    }
  }
  await sleep(50);
  const rs = await rx.ask({ type: 'stats' }, 'stats');
  await exitPeer(rx);
  return { msgsPerSec: N / (ns(run.timing.start, run.timing.end) / 1e9), self: nodeFigures(rs, N), peer };
}

/** tx-proton: `lib`'s sender listens; receive.c connects and receives. */
async function txProton(run, lib, bins) {
  const tx = forkPeer(run, { role: 'sender', lib, mode: 'listen' }, `${lib} sender (listener)`);
  const { port } = await tx.next('ready');
  const { cr, s } = await receiveCPhases(run, bins, tx, port);
  run.timing = { start: s.tAttach, end: s.tLast };
  await sleep(50);
  const ss = await tx.ask({ type: 'stats' }, 'stats');
  await exitPeer(tx);
  return {
    msgsPerSec: N / (ns(run.timing.start, run.timing.end) / 1e9),
    self: nodeFigures(ss, N),
    peer: { cpuUs: cr.rusage.cpuUs / N, rssMb: cr.rusage.maxRssKb / 1024 },
  };
}

/** tx-rhea: a rhea receiver listens; `lib`'s sender connects. */
async function txRhea(run, lib) {
  const rx = forkPeer(
    run,
    { role: 'receiver', lib: 'rhea', mode: 'listen', credit: CREDIT, shape: 'binary' },
    'rhea receiver (listener)',
  );
  const { port } = await rx.next('ready');
  const tx = forkPeer(run, { role: 'sender', lib, mode: 'connect', port, address: 'bench' }, `${lib} sender`);
  await tx.next('ready');
  for (const [n, measure] of PHASES) {
    const [r, s] = await phase([rx], [tx], n, measure);
    fail([...phaseProblems(rx.label, r, n, 'receiver'), ...phaseProblems(tx.label, s, n, 'sender')]);
    if (measure) run.timing = { start: s.tAttach, end: s.tLast };
  }
  await sleep(50);
  const [ss, rs] = await Promise.all([tx.ask({ type: 'stats' }, 'stats'), rx.ask({ type: 'stats' }, 'stats')]);
  await exitPeer(tx);
  await exitPeer(rx);
  return {
    msgsPerSec: N / (ns(run.timing.start, run.timing.end) / 1e9),
    self: nodeFigures(ss, N),
    peer: nodeFigures(rs, N),
  };
}

/**
 * Through a broker on `port`: `lib`'s consumer attaches to the phase's address, then its producer
 * sends; the warm-up and the measured phase use the same two processes (Node) or two pairs of
 * programs (C), and each phase its own address (`addressOf(measure)`): a consumer that closes at
 * once after its last accept may get messages back on the queue (RabbitMQ requeues what it had
 * not yet seen settled), which must not reach the next phase.
 */
async function throughBroker(run, lib, bins, port, addressOf, auth) {
  if (lib === 'proton') {
    return inScratchDir(async (dir) => {
      let out;
      for (const [n, measure] of PHASES) {
        const file = join(dir, `receive-${n}.out`);
        const address = addressOf(measure);
        const rc = startC(run, bins, bins.receive, [HOST, port, address, n], { label: 'receive.c', stdoutFile: file });
        await sleep(300); // let it attach first (its clock starts at send.c's exec anyway)
        const sc = startC(run, bins, bins.send, [HOST, port, address, n], { label: 'send.c' });
        let sr;
        let rr;
        try {
          [sr, rr] = await Promise.all([ended(sc), ended(rc)]);
        } catch (e) {
          e.incompatible &&= !measure; // only a failure to talk at all, in the warm-up
          throw e;
        }
        fail([...sendProblems('send.c', sr, n), ...receiveProblems('receive.c', rr, n, file, 'proton-map')]);
        rmSync(file, { force: true });
        if (measure)
          out = {
            msgsPerSec: N / (ns(sr.rusage.start, rr.rusage.end) / 1e9),
            producer: { cpuUs: sr.rusage.cpuUs / N, rssMb: sr.rusage.maxRssKb / 1024 },
            consumer: { cpuUs: rr.rusage.cpuUs / N, rssMb: rr.rusage.maxRssKb / 1024 },
          };
      }
      return out;
    });
  }
  const cons = forkPeer(
    run,
    { role: 'receiver', lib, mode: 'connect', port, credit: CREDIT, shape: 'binary', ...auth },
    `${lib} consumer`,
  );
  const prod = forkPeer(run, { role: 'sender', lib, mode: 'connect', port, ...auth }, `${lib} producer`);
  await Promise.all([cons.next('ready'), prod.next('ready')]);
  let timing;
  for (const [n, measure] of PHASES) {
    const address = addressOf(measure);
    await cons.ask({ type: 'phase', n, measure, address }, 'armed');
    await cons.next('attached');
    await prod.ask({ type: 'phase', n, measure, address }, 'armed');
    const [c, p] = await Promise.all([cons.next('phase-done'), prod.next('phase-done')]);
    fail([...phaseProblems(cons.label, c, n, 'receiver'), ...phaseProblems(prod.label, p, n, 'sender')]);
    if (measure) timing = { start: p.tAttach, end: c.tLast };
  }
  await sleep(50);
  const [cs, ps] = await Promise.all([cons.ask({ type: 'stats' }, 'stats'), prod.ask({ type: 'stats' }, 'stats')]);
  await exitPeer(prod);
  await exitPeer(cons);
  return {
    msgsPerSec: N / (ns(timing.start, timing.end) / 1e9),
    producer: nodeFigures(ps, N),
    consumer: nodeFigures(cs, N),
  };
}

/** broker-proton: a fresh broker.c per run (its CPU per message, warm-up included, is reported too). */
async function brokerProton(run, lib, bins) {
  let port;
  const b = startC(run, bins, bins.broker, [HOST, 0], {
    label: 'broker.c',
    onStdout: (s) => {
      port ??= s.match(/listening on (\d+)/)?.[1];
    },
  });
  for (let i = 0; port === undefined; i++) {
    if (b.exitCode !== null || i > 500)
      throw new Error(
        `broker.c did not start listening (${b.exitCode !== null ? `exited ${b.exitCode}` : 'after 5 s'})`,
      );
    await sleep(10);
  }
  const tag = randomBytes(4).toString('hex');
  const r = await throughBroker(run, lib, bins, Number(port), (measure) => `bench-${tag}${measure ? '' : '-warm'}`);
  b.kill('SIGTERM'); // rusage-run passes it on as SIGKILL, then reports the broker's rusage
  const br = await b.done;
  if (br.rusage) r.broker = { cpuUs: br.rusage.cpuUs / (N + W), rssMb: br.rusage.maxRssKb / 1024 };
  return r;
}

// =====================================================================================
// RabbitMQ (scripts/rabbitmq.sh)
// =====================================================================================

const RABBIT_SCRIPT = join(root, 'scripts', 'rabbitmq.sh');
const rabbitPort = () => Number(process.env.QUARK_RABBITMQ_PORT ?? 5673);
const CLK_TCK = 100; // Linux USER_HZ: the unit of /proc/<pid>/stat's utime and stime

/** CPU us (user+sys) the RabbitMQ node's Erlang VM has used so far (from /proc), or undefined. */
function rabbitCpuUs() {
  try {
    const dir = process.env.QUARK_RABBITMQ_DIR ?? join(process.env.TMPDIR ?? '/tmp', `quark-rabbitmq-${rabbitPort()}`);
    const pid = readFileSync(join(dir, 'rabbitmq.pid'), 'utf8').trim();
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1e6) / CLK_TCK; // fields 14 and 15: utime, stime
  } catch {
    return undefined;
  }
}

/** Runs scripts/rabbitmq.sh with `argv`; resolves { code, output }. */
function rabbitScript(argv, timeoutS) {
  return new Promise((res) => {
    const p = spawn('bash', [RABBIT_SCRIPT, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(p);
    let output = '';
    p.stdout.on('data', (d) => (output += d));
    p.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutS * 1000);
    p.once('close', (code, signal) => {
      clearTimeout(timer);
      children.delete(p);
      res({ code: code ?? signal, output: output.trim() });
    });
  });
}

/** Starts (or joins) the node as an owner; resolves { port } or { error }. */
async function startRabbit() {
  const home = process.env.QUARK_RABBITMQ_HOME ?? '/usr/lib/rabbitmq/bin';
  if (!existsSync(join(home, 'rabbitmq-server')))
    return { error: `RabbitMQ is not installed (no ${join(home, 'rabbitmq-server')})` };
  rabbit = { port: rabbitPort(), registered: true, queues: [] };
  const r = await rabbitScript(['start', '--owner', String(process.pid)], 240);
  if (r.code !== 0) {
    await stopRabbit();
    return { error: `scripts/rabbitmq.sh start failed (${r.code}): ${r.output.split('\n').slice(-3).join(' | ')}` };
  }
  const version = readdirSync(join(home, '..', 'lib'))
    .find((d) => d.startsWith('rabbitmq_server-'))
    ?.slice('rabbitmq_server-'.length);
  return { port: rabbit.port, version, output: r.output };
}

/** Deletes the queues the bench made, then unregisters (the script stops the node if we were its only user). */
async function stopRabbit() {
  if (!rabbit?.registered) return;
  // What is still on our queues: every phase's consumer took exactly its n messages, in order, so
  // anything left is a message it had accepted that RabbitMQ put back.
  const listed = await rabbitScript(['ctl', 'list_queues', 'name', 'messages', '--quiet', '--no-table-headers'], 60);
  if (listed.code === 0) {
    for (const line of listed.output.split('\n')) {
      const [q, count] = line.trim().split(/\s+/);
      if (rabbit.queues.includes(q) && Number(count) > 0) rabbitLeftovers[q] = Number(count);
    }
  }
  for (const q of rabbit.queues) {
    const r = await rabbitScript(['ctl', 'delete_queue', q], 60);
    if (r.code !== 0)
      console.error(
        `cross-peer bench: could not delete RabbitMQ queue ${q}: ${r.output.split('\n').slice(-2).join(' | ')}`,
      );
  }
  rabbit.queues = [];
  const r = await rabbitScript(['stop', '--owner', String(process.pid)], 120);
  rabbit.registered = false;
  if (!json || r.code !== 0) console.error(r.output);
}

/** On an abrupt exit: unregister at least (synchronously; queue deletion is skipped). */
function stopRabbitSync() {
  try {
    execFileSync('bash', [RABBIT_SCRIPT, 'stop', '--owner', String(process.pid)], { stdio: 'ignore', timeout: 60_000 });
  } catch {
    // nothing more we can do
  }
  rabbit.registered = false;
}

// =====================================================================================
// Summaries and report
// =====================================================================================

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}
const medianOf = (runs, f) => {
  const xs = runs.map(f).filter((x) => x !== undefined && Number.isFinite(x));
  return xs.length ? median(xs) : undefined;
};
const maxOf = (runs, f) => {
  const xs = runs.map(f).filter((x) => x !== undefined && Number.isFinite(x));
  return xs.length ? Math.max(...xs) : undefined;
};

function summarize(kind, runs) {
  const s = {
    rounds: runs.length,
    msgsPerSec: medianOf(runs, (r) => r.msgsPerSec),
    bestMsgsPerSec: maxOf(runs, (r) => r.msgsPerSec),
  };
  if (kind === 'broker') {
    for (const side of ['producer', 'consumer']) {
      s[`${side}CpuUs`] = medianOf(runs, (r) => r[side].cpuUs);
      s[`${side}RssMb`] = maxOf(runs, (r) => r[side].rssMb);
    }
    s.brokerCpuUs = medianOf(runs, (r) => r.broker?.cpuUs);
    for (const side of ['producer', 'consumer']) {
      s[`${side}ReadsPer1k`] = medianOf(runs, (r) => (r[side].sock ? (r[side].sock.reads / N) * 1000 : undefined));
      s[`${side}WritesPer1k`] = medianOf(runs, (r) =>
        r[side].sock ? (r[side].sock.handleWrites / N) * 1000 : undefined,
      );
    }
    return s;
  }
  // (Proton C's programs have no socket counters: their cells stay empty.)
  const per1k = (r, k) => (r.self.sock ? (r.self.sock[k] / N) * 1000 : undefined);
  Object.assign(s, {
    cpuUs: medianOf(runs, (r) => r.self.cpuUs),
    sysUs: medianOf(runs, (r) => r.self.sysUs),
    rssMb: maxOf(runs, (r) => r.self.rssMb),
    readsPer1k: medianOf(runs, (r) => per1k(r, 'reads')),
    writesPer1k: medianOf(runs, (r) => per1k(r, 'handleWrites')),
    writeCallsPer1k: medianOf(runs, (r) => per1k(r, 'writeCalls')),
    bytesPerRead: medianOf(runs, (r) => (r.self.sock ? r.self.sock.readBytes / r.self.sock.reads : undefined)),
    bytesPerWrite: medianOf(runs, (r) => (r.self.sock ? r.self.sock.writeBytes / r.self.sock.handleWrites : undefined)),
    cpuUsPerRead: medianOf(runs, (r) => (r.self.sock ? (r.self.cpuUs * N) / r.self.sock.reads : undefined)),
    peerCpuUs: medianOf(runs, (r) => r.peer?.cpuUs),
    peerReadsPer1k: medianOf(runs, (r) => (r.peer?.sock ? (r.peer.sock.reads / N) * 1000 : undefined)),
    peerWritesPer1k: medianOf(runs, (r) => (r.peer?.sock ? (r.peer.sock.handleWrites / N) * 1000 : undefined)),
    peerRssMb: maxOf(runs, (r) => r.peer?.rssMb),
  });
  return s;
}

const fmt = (x, d = 1) =>
  x === undefined ? '-' : x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
const cpu = (x) => (x === undefined ? '-' : fmt(x, x < 100 ? 2 : 0));
const mb = (x) => (x === undefined ? '-' : `${fmt(x, 0)} MB`);
const ratio = (a, b) => (a === undefined || b === undefined || b === 0 ? '-' : `${(a / b).toFixed(2)}x`);

function table(rows) {
  const widths = rows[0].map((_, col) => Math.max(...rows.map((rw) => rw[col].length)));
  const line = (rw) =>
    '| ' +
    rw.map((cell, col) => (col === 0 ? cell.padEnd(widths[col]) : cell.padStart(widths[col]))).join(' | ') +
    ' |';
  say(line(rows[0]));
  say('|' + widths.map((w, col) => (col === 0 ? ':' + '-'.repeat(w + 1) : '-'.repeat(w + 1) + ':')).join('|') + '|');
  for (const rw of rows.slice(1)) say(line(rw));
}

function report(name, scen, res) {
  say('');
  say(`${scen.title}: ${N.toLocaleString('en-US')} messages after ${W.toLocaleString('en-US')} warm-up`);
  const libs = scen.libs.filter((l) => res[l]);
  if (libs.length === 0) {
    say('  (no run succeeded: see FAILED above)');
    return;
  }
  if (scen.kind === 'broker') {
    const head = [
      'client',
      'msgs/s end to end',
      'producer CPU us/msg',
      'consumer CPU us/msg',
      'producer peak RSS',
      'consumer peak RSS',
      'broker CPU us/msg (incl. warm-up)',
      'producer reads/writes /1k',
      'consumer reads/writes /1k',
    ];
    const rw = (r, w) => (r === undefined ? '-' : `${fmt(r, 1)} / ${fmt(w, 1)}`);
    const row = (l, s) => [
      LIB_NAME[l],
      fmt(s.msgsPerSec, 0),
      cpu(s.producerCpuUs),
      cpu(s.consumerCpuUs),
      mb(s.producerRssMb),
      mb(s.consumerRssMb),
      cpu(s.brokerCpuUs),
      rw(s.producerReadsPer1k, s.producerWritesPer1k),
      rw(s.consumerReadsPer1k, s.consumerWritesPer1k),
    ];
    const rows = [head, ...libs.map((l) => row(l, res[l]))];
    for (const other of ['rhea', 'proton']) {
      const q = res.quark;
      const o = res[other];
      if (q && o)
        rows.push([
          `Quark/${LIB_NAME[other]}`,
          ratio(q.msgsPerSec, o.msgsPerSec),
          ratio(q.producerCpuUs, o.producerCpuUs),
          ratio(q.consumerCpuUs, o.consumerCpuUs),
          ratio(q.producerRssMb, o.producerRssMb),
          ratio(q.consumerRssMb, o.consumerRssMb),
          ratio(q.brokerCpuUs, o.brokerCpuUs),
          other === 'rhea'
            ? `${ratio(q.producerReadsPer1k, o.producerReadsPer1k)} / ${ratio(q.producerWritesPer1k, o.producerWritesPer1k)}`
            : '',
          other === 'rhea'
            ? `${ratio(q.consumerReadsPer1k, o.consumerReadsPer1k)} / ${ratio(q.consumerWritesPer1k, o.consumerWritesPer1k)}`
            : '',
        ]);
    }
    table(rows);
    return;
  }
  const who = scen.kind === 'rx' ? 'receiver' : 'sender';
  const peer = {
    'rx-rhea': 'rhea sender',
    'rx-trickle': 'rhea sender',
    'rx-proton': 'send.c',
    'tx-proton': 'receive.c',
    'tx-rhea': 'rhea receiver',
  }[name];
  const nodePeer = name.endsWith('-rhea') || name === 'rx-trickle';
  const head = [
    who,
    'msgs/s',
    `${who} CPU us/msg`,
    'of which sys',
    `${who} peak RSS`,
    'reads /1k msgs',
    'writes /1k msgs',
    'write() calls /1k msgs',
    'bytes /read',
    'bytes /write',
    'CPU us /read',
    `${peer} CPU us/msg`,
    ...(nodePeer ? [`${peer} reads /1k`, `${peer} writes /1k`] : []),
  ];
  const row = (l, s) => [
    LIB_NAME[l],
    fmt(s.msgsPerSec, 0),
    cpu(s.cpuUs),
    cpu(s.sysUs),
    mb(s.rssMb),
    fmt(s.readsPer1k, 1),
    fmt(s.writesPer1k, 1),
    fmt(s.writeCallsPer1k, 1),
    fmt(s.bytesPerRead, 0),
    fmt(s.bytesPerWrite, 0),
    fmt(s.cpuUsPerRead, 1),
    cpu(s.peerCpuUs),
    ...(nodePeer ? [fmt(s.peerReadsPer1k, 1), fmt(s.peerWritesPer1k, 1)] : []),
  ];
  const rows = [head, ...libs.map((l) => row(l, res[l]))];
  const q = res.quark;
  const h = res.rhea;
  const keys = [
    'msgsPerSec',
    'cpuUs',
    'sysUs',
    'rssMb',
    'readsPer1k',
    'writesPer1k',
    'writeCallsPer1k',
    'bytesPerRead',
    'bytesPerWrite',
    'cpuUsPerRead',
    'peerCpuUs',
    ...(nodePeer ? ['peerReadsPer1k', 'peerWritesPer1k'] : []),
  ];
  if (q && h) rows.push(['Quark/rhea', ...keys.map((k) => ratio(q[k], h[k]))]);
  if (q && res.proton) rows.push(['Quark/Proton C', ...keys.map((k) => ratio(q[k], res.proton[k]))]);
  table(rows);
  if (res.floor) {
    say(
      `  floor: a bare Node.js socket receiver (no AMQP, counting bytes) fed 150-byte frames one per write, one every ${fmt(res.floor.paceUs, 1)} us ` +
        `(the rhea sender's CPU per message), uses ${cpu(res.floor.receiverCpuUs)} us of CPU per frame (bench/peers/bare-sockets.mjs)`,
    );
  }
}

/** The commit the build is from, whether the tree is dirty, and whether dist is older than src. */
function buildInfo() {
  const git = (...a) => {
    try {
      return execFileSync('git', a, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trimEnd();
    } catch {
      return undefined;
    }
  };
  const commit = git('rev-parse', '--short', 'HEAD');
  const status = git('status', '--porcelain', '--untracked-files=no');
  let diff; // as `git diff HEAD -- src | sha256sum` hashes it (untrimmed)
  try {
    diff = execFileSync('git', ['diff', 'HEAD', '--', 'src'], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      maxBuffer: 1 << 28,
    });
  } catch {
    diff = undefined;
  }
  const newest = (dir, ext) => {
    let t = 0;
    const walk = (d) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        const p = join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (p.endsWith(ext)) t = Math.max(t, statSync(p).mtimeMs);
      }
    };
    if (existsSync(dir)) walk(dir);
    return t;
  };
  const distTime = newest(join(root, 'dist', 'esm'), '.js');
  const srcTime = newest(join(root, 'src'), '.ts');
  return {
    commit,
    dirty: status === undefined ? undefined : status.length > 0,
    modified: status ? status.split('\n').map((l) => l.slice(3)) : [],
    srcDiffSha: diff ? createHash('sha256').update(diff).digest('hex').slice(0, 12) : undefined,
    distBuilt: distTime ? new Date(distTime).toISOString() : undefined,
    distOlderThanSrc: process.env.QUARK_DIST ? undefined : distTime < srcTime,
    quarkDist: process.env.QUARK_DIST,
  };
}

// =====================================================================================
// Main
// =====================================================================================

const build = buildInfo();
if (!process.env.QUARK_DIST && !existsSync(join(root, 'dist', 'esm', 'index.js'))) {
  console.error('cross-peer bench: dist/esm is missing; run `node scripts/build.mjs` first');
  process.exit(1);
}
/** Whether a scenario runs a Proton C program. */
const usesProton = (name) => name.includes('proton') || name.startsWith('broker') || name === 'rx-trickle';
const bins = selected.some(usesProton) ? protonPeers() : { error: 'not needed' };
const meta = {
  node: process.version,
  rhea: require('rhea/package.json').version,
  proton: bins.version,
  gcc: bins.gcc,
  quick,
  count: N,
  warmup: W,
  rounds: ROUNDS,
  credit: CREDIT,
  quarkSendCap: QUARK_CAP,
  build,
};

say(
  `Quark against other AMQP 1.0 peers over loopback, each side a process of its own; ${process.version}, rhea ${meta.rhea}${bins.version ? `, Qpid Proton C ${bins.version} (examples compiled with gcc ${bins.gcc} -O2)` : ''}`,
);
say(
  `  Quark: commit ${build.commit ?? '?'}${build.dirty ? ` + uncommitted changes (${build.modified.join(', ')}; src diff sha256 ${build.srcDiffSha ?? '-'})` : ' (clean tree)'}, ` +
    `dist built ${build.distBuilt ?? '?'}${build.distOlderThanSrc ? ' -- WARNING: dist is older than src (rebuild: node scripts/build.mjs)' : ''}${build.quarkDist ? ` (QUARK_DIST=${build.quarkDist})` : ''}`,
);
say(
  `  ${quick ? 'QUICK: ' : ''}${N.toLocaleString('en-US')} messages measured after ${W.toLocaleString('en-US')} warm-up; ${ROUNDS} round(s) per library, rotating which goes first; median reported (peak RSS: max)`,
);
say(
  `  receiver credit ${CREDIT} (Quark credit, rhea credit_window), accept each; Quark's sender keeps at most ${QUARK_CAP} sends unresolved, rhea's sends while sendable(); TCP_NODELAY; max-frame-size ${MAX_FRAME_SIZE}`,
);

const results = {};
const skipped = {};
const skippedLibs = new Set();
let rabbitNote = () => undefined;
/** Messages left on the bench's RabbitMQ queues after their consumers had taken all, by queue. */
const rabbitLeftovers = {};
const failures = [];
for (const name of selected) {
  const scen = SCENARIOS[name];
  // Without Proton C, a scenario that is about it is skipped; the others run without its column.
  if (bins.error && (name === 'broker-proton' || name === 'rx-proton' || name === 'tx-proton')) {
    skipped[name] = `Proton C: ${bins.error}`;
    say(`\n${scen.title}: SKIPPED: ${skipped[name]}`);
    continue;
  }
  let libs = scen.libs;
  let runner;
  let brokerInfo = '';
  if (name === 'rx-rhea') runner = (run, lib) => rxRhea(run, lib);
  else if (name === 'rx-trickle') {
    runner = (run, lib) => rxTrickle(run, lib, bins);
    if (bins.error) {
      libs = libs.filter((l) => l !== 'proton');
      say(`\n${scen.title}: Proton C's receive.c skipped: ${bins.error}`);
    }
  } else if (name === 'rx-proton') runner = (run, lib) => rxProton(run, lib, bins);
  else if (name === 'tx-proton') runner = (run, lib) => txProton(run, lib, bins);
  else if (name === 'tx-rhea') runner = (run, lib) => txRhea(run, lib);
  else if (name === 'broker-proton') runner = (run, lib) => brokerProton(run, lib, bins);
  else if (name === 'broker-rabbitmq') {
    const r = await startRabbit();
    if (r.error) {
      skipped[name] = r.error;
      scen.title = '3b. THROUGH RabbitMQ';
      say(`\n3b. THROUGH RabbitMQ: SKIPPED: ${r.error}`);
      continue;
    }
    if (bins.error) {
      libs = libs.filter((l) => l !== 'proton');
      brokerInfo = `; Proton C clients skipped: ${bins.error}`;
    }
    const tag = randomBytes(4).toString('hex');
    scen.title = `3b. THROUGH RabbitMQ ${r.version ?? ''} on 127.0.0.1:${r.port} (scripts/rabbitmq.sh; address /queue/bench-${tag}-<client>-<run>[-warm]; Quark and rhea: SASL PLAIN guest/guest; send.c/receive.c: no SASL (they have no credentials option), so RabbitMQ's default user guest)${brokerInfo}`;
    let incompatible;
    rabbitNote = () => incompatible;
    let runNo = 0;
    runner = async (run, lib) => {
      // A queue per run and phase (see throughBroker), deleted at the end.
      const queue = `bench-${tag}-${lib}-${++runNo}`;
      rabbit.queues.push(`${queue}-warm`, queue);
      try {
        const cpu0 = rabbitCpuUs();
        const res = await throughBroker(
          run,
          lib,
          bins,
          r.port,
          (measure) => `/queue/${queue}${measure ? '' : '-warm'}`,
          lib === 'proton' ? {} : { username: 'guest', password: 'guest' },
        );
        const cpu1 = rabbitCpuUs();
        if (cpu0 !== undefined && cpu1 !== undefined) res.broker = { cpuUs: (cpu1 - cpu0) / (N + W) };
        return res;
      } catch (e) {
        if (lib === 'proton' && e.incompatible) {
          incompatible = `send.c/receive.c cannot work with this RabbitMQ: ${e.message}`;
          return undefined;
        }
        throw e;
      }
    };
  }
  const runs = Object.fromEntries(libs.map((l) => [l, []]));
  for (let round = 0; round < ROUNDS; round++) {
    const order = libs.map((_, i) => libs[(i + round) % libs.length]);
    for (const lib of order) {
      if (skippedLibs.has(`${name}/${lib}`)) continue;
      try {
        const r = await withRun(`${name}/${lib}`, (run) => runner(run, lib));
        if (r === undefined) skippedLibs.add(`${name}/${lib}`);
        else runs[lib].push(r);
      } catch (e) {
        failures.push(`${name}/${lib}: ${e.message}`);
        console.error(`FAILED ${name}/${lib}: ${e.message}`);
      }
    }
  }
  if (name === 'broker-rabbitmq') {
    await stopRabbit();
    const left = Object.entries(rabbitLeftovers);
    if (left.length > 0) {
      say(
        `\nRabbitMQ put back messages their consumer had already accepted and settled (it closed right after its last accept; redeliveries a next consumer would get): ${left.map(([q, k]) => `${q}: ${k}`).join(', ')}`,
      );
    }
    if (rabbitNote()) {
      skipped[`${name}/proton`] = rabbitNote();
      say(`\n${rabbitNote()}`);
    }
  }
  results[name] = {
    title: scen.title,
    ...Object.fromEntries(libs.filter((l) => runs[l].length > 0).map((l) => [l, summarize(scen.kind, runs[l])])),
  };
  if (name === 'rx-rhea') {
    // The floor beside it: bare sockets, the same frames at the same pace (the rhea sender's CPU per message).
    const pace = results[name].quark?.peerCpuUs ?? results[name].rhea?.peerCpuUs ?? 15;
    const floor = await measureBareSockets({ size: 150, count: N, batch: 1, paceUs: pace });
    results[name].floor = { paceUs: pace, receiverCpuUs: floor.receiverCpu / N, msgsPerSec: N / floor.seconds };
  }
  if (!json) report(name, scen, results[name]);
}

clearTimeout(watchdog);
if (json) console.log(JSON.stringify({ meta, results, skipped, failures, rabbitmqLeftovers: rabbitLeftovers }));
else {
  say('');
  say(
    failures.length === 0
      ? 'verified: every message arrived once, in order, intact; every outcome as expected'
      : `FAILED: ${failures.length} run(s)`,
  );
  for (const [k, v] of Object.entries(skipped)) say(`skipped ${k}: ${v}`);
}
process.exit(failures.length > 0 ? 1 : 0);
