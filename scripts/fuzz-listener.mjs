// @ts-check
// A long run of the listener's wire fuzzer (tests/support/listener-fuzz.ts, which `npm test` runs
// for 8,000 cases) against the embedded broker of dist/ in a child process
// (scripts/fuzz-listener-broker.mjs), with figures:
//
//   node scripts/fuzz-listener.mjs [--cases 1000000] [--seed 20261206] [--concurrency 4]
//                                  [--every 100000] [--progress FILE] [--out /tmp/quark/fuzz-listener]
//
// --every: cases between memory checkpoints; --progress: a file to append the progress lines to
// (they go to stdout too); --out: where the inputs of hangs and crashes are written.
//
// Counts cases, crashes (the broker's process exits), hangs (a case the broker neither closed nor
// established within 30 s of the client's one write) and late verdicts (after more than 3 s, where
// the broker owes one within its 2 s handshake timeout: on a loaded machine, the broker was kept
// from running; each late and hanging case is then played again alone) -- see
// tests/support/listener-fuzz.ts -- and
// records the broker's RSS and heap after a full GC at the start, every 100,000 cases (once every
// case so far has its verdict and the broker has forgotten every connection) and at the end. Then
// checks that the broker still serves a well-behaved client (connect, send, receive: on a new
// address, or, when the broker can make no more queues because the cases' made-up addresses fill
// maxQueues with messages nobody takes, on a queue that exists, which is then noted) and forgets
// its connection. Prints a table and a one-line summary; exits 1 on a crash, a hang, a refused
// connection, a connection not forgotten, or a broker that no longer serves. Everything on
// 127.0.0.1. Build dist/ first (`npm run build`): the broker and the client are dist's; the
// generator is bundled from tests/support/ (with esbuild) on each run.
import { fork } from 'node:child_process';
import { appendFileSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildSync } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const PROGRESS_EVERY = 10_000;

const { values: flags } = parseArgs({
  options: {
    cases: { type: 'string', default: '1000000' },
    seed: { type: 'string', default: '20261206' },
    concurrency: { type: 'string', default: '4' },
    every: { type: 'string', default: '100000' },
    progress: { type: 'string' },
    out: { type: 'string', default: '/tmp/quark/fuzz-listener' },
  },
});
const CASES = Number(flags.cases);
const SEED = Number(flags.seed) >>> 0;
const CONCURRENCY = Number(flags.concurrency);
const OUT = flags.out;
const CHECKPOINT_EVERY = Number(flags.every);
if (!(Number.isSafeInteger(CASES) && CASES >= 1))
  throw new TypeError(`--cases must be a whole number of at least 1, got ${flags.cases}`);
if (!Number.isInteger(Number(flags.seed))) throw new TypeError(`--seed must be an integer, got ${flags.seed}`);
if (!(Number.isSafeInteger(CHECKPOINT_EVERY) && CHECKPOINT_EVERY >= 1))
  throw new TypeError(`--every must be a whole number of at least 1, got ${flags.every}`);
if (!(Number.isInteger(CONCURRENCY) && CONCURRENCY >= 1))
  throw new TypeError(`--concurrency must be a whole number of at least 1, got ${flags.concurrency}`);

/** @param {string} line */
function progress(line) {
  console.log(line);
  if (flags.progress) appendFileSync(flags.progress, `${line}\n`);
}

/** The newest modification time under `dir`, in ms. @param {string} dir @returns {number} */
function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

// The generator, from its one source (TypeScript over src/codec), bundled into this process.
const bundle = buildSync({
  stdin: {
    contents:
      "export * from './tests/support/listener-fuzz.ts'; export { SeededRandom } from './tests/support/seeded-random.ts';",
    resolveDir: root,
    loader: 'ts',
  },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  write: false,
  logLevel: 'error',
});
/** @type {typeof import('../tests/support/listener-fuzz.ts') & typeof import('../tests/support/seeded-random.ts')} */
const fuzz = await import(`data:text/javascript;base64,${Buffer.from(bundle.outputFiles[0].text).toString('base64')}`);
const { connect } = await import('../dist/esm/index.js');

const built = statSync(join(root, 'dist', 'esm', 'index.js')).mtimeMs;
if (built < newestMtime(join(root, 'src')))
  console.warn('warning: dist/ is older than src/: the broker fuzzed is the last build (npm run build)');

// ---------------------------------------------------------------------------------------------
// The broker's process.

/** @typedef {{ rss: number, heapUsed: number, heapTotal: number, external: number, arrayBuffers: number, connections: number, queues: number, depth: number, inFlight: number, consumers: number, deepest: number, existing: { address: string, depth: number } | undefined, storedBytes: number, loopDelayMaxMs: number, cpu: { user: number, system: number } }} BrokerStats */

const child = fork(join(root, 'scripts', 'fuzz-listener-broker.mjs'), [JSON.stringify(fuzz.FUZZ_BROKER_OPTIONS)], {
  execArgv: ['--expose-gc'],
  stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
});
/** The last cases started, newest last (what was in flight, or had just closed, if the broker dies). @type {{ index: number, c: import('../tests/support/listener-fuzz.ts').FuzzCase }[]} */
const recent = [];
const RECENT = 32;
/** @type {{ code: number | null, signal: string | null, at: number, recent: typeof recent } | undefined} */
let crash;
let stopping = false;
/** @type {Map<number, (stats: BrokerStats) => void>} */
const pending = new Map();
let nextId = 0;
/** @type {Promise<number>} */
const ready = new Promise((resolve, reject) => {
  child.on('message', (/** @type {{ type: string, id: number, port: number } & BrokerStats} */ m) => {
    if (m.type === 'ready') resolve(m.port);
    else if (m.type === 'stats') {
      pending.get(m.id)?.(m);
      pending.delete(m.id);
    }
  });
  child.once('exit', (code, signal) => {
    if (!stopping) crash = { code, signal, at: performance.now(), recent: [...recent] };
    reject(new Error(`the broker's process exited (code ${code}, signal ${signal})`));
    // Whoever waits for stats from a dead broker waits no more.
    for (const [id, answer] of pending) {
      pending.delete(id);
      answer(/** @type {BrokerStats} */ ({}));
    }
  });
});
ready.catch(() => undefined);

/** The broker's figures (after a full GC when `gc`); undefined once it has exited. @param {boolean} gc @returns {Promise<BrokerStats | undefined>} */
function brokerStats(gc) {
  if (crash || child.exitCode !== null) return Promise.resolve(undefined);
  const id = nextId++;
  return new Promise((resolve) => {
    pending.set(id, (s) => resolve(s.rss === undefined ? undefined : s));
    child.send({ type: 'stats', id, gc });
  });
}

/** Waits up to 5 s for the broker to have no connection; resolves with how many it still has. @returns {Promise<number>} */
async function untilForgotten() {
  let stats = await brokerStats(false);
  for (let i = 0; i < 100 && stats && stats.connections > 0; i++) {
    await sleep(50);
    stats = await brokerStats(false);
  }
  return stats ? stats.connections : -1;
}

/**
 * A well-behaved client: connects, sends to `address`, receives what it sent (after the `before`
 * messages the queue held already, which it takes too), closes.
 * @param {string} url @param {string} address @param {number} before
 * @returns {Promise<string | undefined>} why not, or undefined
 */
async function stillServes(url, address, before) {
  try {
    const client = await connect({ url, reconnect: false });
    try {
      const sender = await client.createSender(address);
      const result = await sender.send({ body: 'still here' });
      if (result.kind !== 'accepted') return `the send was ${result.kind}`;
      const receiver = await client.createReceiver(address);
      for (let i = 0; i <= before; i++) {
        const delivery = await receiver.receive({ timeout: 5000 });
        delivery.accept();
        if (delivery.message.body === 'still here') return undefined;
      }
      return `'still here' was not among the ${before + 1} messages received`;
    } finally {
      await client.close();
    }
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

// ---------------------------------------------------------------------------------------------
// The run.

const MB = (/** @type {number} */ n) => (n / 1e6).toFixed(1);
mkdirSync(OUT, { recursive: true });
const port = await ready;
const url = `amqp://127.0.0.1:${port}`;
const random = new fuzz.SeededRandom(SEED);
const totals = fuzz.emptyTotals();
/** @type {{ label: string, cases: number, seconds: number, rate: number, crashes: number, hang: number, late: number, stats: BrokerStats | undefined, connectionsLeft: number }[]} */
const rows = [];
const t0 = performance.now();
let lastProgressAt = t0;
let lastProgressCases = 0;
let started = 0;
const failures = /** @type {string[]} */ ([]);
/** What is worth knowing but not a failure. @type {string[]} */
const warnings = [];
/** The verdicts of hanging and late cases played again alone. @type {import('../tests/support/listener-fuzz.ts').PlayResult[]} */
const replayedHangs = [];
/** @type {import('../tests/support/listener-fuzz.ts').PlayResult[]} */
const replayedLate = [];

/** @param {string} label */
async function checkpoint(label) {
  const connectionsLeft = await untilForgotten();
  const stats = await brokerStats(true);
  const seconds = (performance.now() - t0) / 1000;
  rows.push({
    label,
    cases: totals.cases,
    seconds,
    rate: seconds > 0 ? totals.cases / seconds : 0,
    crashes: crash ? 1 : 0,
    hang: totals.hang,
    late: totals.late,
    stats,
    connectionsLeft,
  });
  if (stats) {
    progress(
      `checkpoint ${label}: ${totals.cases} cases, ${seconds.toFixed(0)} s; broker after GC: RSS ${MB(stats.rss)} MB, heap ${MB(stats.heapUsed)} MB, external ${MB(stats.external)} MB; ` +
        `${stats.queues} queues holding ${stats.depth} messages (${MB(stats.storedBytes)} MB; the deepest ${stats.deepest}), connections left ${connectionsLeft}`,
    );
  }
  if (connectionsLeft > 0)
    failures.push(`${connectionsLeft} connections still counted at ${label}, 5 s after every case had closed`);
}

progress(
  `listener fuzz: ${CASES} cases, seed ${SEED}, concurrency ${CONCURRENCY}, broker pid ${child.pid} on ${url}, dist built ${new Date(built).toISOString()}`,
);
await checkpoint('start');
while (totals.cases < CASES && !crash) {
  const count = Math.min(CHECKPOINT_EVERY - (totals.cases % CHECKPOINT_EVERY), CASES - totals.cases);
  await fuzz.runCases(
    port,
    random,
    count,
    {
      concurrency: CONCURRENCY,
      firstIndex: totals.cases,
      stop: () => crash !== undefined,
      onStart: (index, c) => {
        started++;
        recent.push({ index, c });
        if (recent.length > RECENT) recent.shift();
      },
      onCase: (result, c, t, index) => {
        if (result.verdict === 'hang' && t.hanging.length <= 20) {
          const file = join(OUT, `hang-${index}.hex`);
          writeFileSync(
            file,
            fuzz.formatHex(
              `seed ${SEED}, case ${index} (${c.auth}/${c.shape}): no close and no open from the broker 30 s after the write; it sent ${JSON.stringify(result.saw)}`,
              c.bytes,
            ),
          );
          progress(`HANG: case ${index} (${c.auth}/${c.shape}), input saved to ${file}`);
        } else if (result.late && t.lateCases.length <= 20) {
          const file = join(OUT, `late-${index}.hex`);
          writeFileSync(
            file,
            fuzz.formatHex(
              `seed ${SEED}, case ${index} (${c.auth}/${c.shape}): ${result.verdict} ${result.ms.toFixed(0)} ms after the write; it sent ${JSON.stringify(result.saw)}`,
              c.bytes,
            ),
          );
          progress(
            `late: case ${index} (${c.auth}/${c.shape}) ${result.verdict} after ${result.ms.toFixed(0)} ms, input saved to ${file}`,
          );
        }
        if (t.cases % PROGRESS_EVERY === 0) {
          const now = performance.now();
          const rate = ((t.cases - lastProgressCases) * 1000) / (now - lastProgressAt);
          lastProgressAt = now;
          lastProgressCases = t.cases;
          // The counts now: the broker's figures come a moment later.
          const counts = `established ${t.established}, closed ${t.closed}, over 100 ms ${t.slow}, late ${t.late}, hangs ${t.hang}, refused ${t.refused}`;
          const head = `${new Date().toISOString()} ${t.cases} cases, ${((now - t0) / 1000).toFixed(0)} s, ${Math.round((t.cases * 1000) / (now - t0))}/s overall, ${Math.round(rate)}/s lately`;
          void brokerStats(false).then((s) => {
            progress(
              `${head}; ${counts}; ` +
                (s
                  ? `broker RSS ${MB(s.rss)} MB, heap ${MB(s.heapUsed)} MB (no GC), ${s.queues} queues, ${s.connections} connections, longest loop stall ${s.loopDelayMaxMs.toFixed(0)} ms`
                  : 'broker gone'),
            );
          });
        }
      },
    },
    totals,
  );
  if (crash) break;
  // The first 20 hanging and the first 20 late cases are played again, alone: a hang, or a late
  // verdict, again is the input's doing, not a busy machine's.
  for (const [kind, noted, done] of /** @type {const} */ ([
    ['hanging', totals.hanging, replayedHangs],
    ['late', totals.lateCases, replayedLate],
  ])) {
    for (const n of noted.slice(done.length, 20)) {
      const again = await fuzz.play(port, n.bytes);
      done.push(again);
      progress(
        `replayed ${kind} case ${n.index} alone: ${again.verdict} after ${again.ms.toFixed(0)} ms${again.late ? ' (late again)' : ''} (it sent ${JSON.stringify(again.saw)})`,
      );
    }
  }
  await checkpoint(totals.cases >= CASES ? 'end' : `${totals.cases / 1000}k`);
}
const seconds = (performance.now() - t0) / 1000;

if (crash) {
  rows.push({
    label: 'crash',
    cases: totals.cases,
    seconds,
    rate: totals.cases / seconds,
    crashes: 1,
    hang: totals.hang,
    late: totals.late,
    stats: undefined,
    connectionsLeft: -1,
  });
  // The broker died: keep the last cases started then (one in flight, or one just closed, did it).
  const file = join(OUT, 'crash-recent.hex');
  writeFileSync(
    file,
    crash.recent
      .map(({ index, c }) =>
        fuzz.formatHex(
          `seed ${SEED}, case ${index} (${c.auth}/${c.shape}), among the last ${RECENT} started when the broker exited`,
          c.bytes,
        ),
      )
      .join('\n'),
  );
  const first = crash.recent[0]?.index ?? 0;
  failures.push(
    `the broker's process exited (code ${crash.code}, signal ${crash.signal}) after ${totals.cases} cases had their verdicts (${started} started); the last ${crash.recent.length} started (cases ${first} to ${first + crash.recent.length - 1}) are in ${file}`,
  );
}
if (totals.hang > 0) {
  const again = replayedHangs.filter((r) => r.verdict === 'hang').length;
  failures.push(
    `${totals.hang} cases hung (first: ${totals.hanging
      .slice(0, 5)
      .map((h) => h.index)
      .join(
        ', ',
      )}); ${again} of the ${replayedHangs.length} played again alone hung again; inputs in ${OUT}/hang-*.hex`,
  );
}
if (totals.refused > 0) failures.push(`${totals.refused} connections were refused`);
let serving = 'not checked (crashed)';
if (!crash) {
  const serves = (/** @type {string} */ address, /** @type {number} */ before) =>
    Promise.race([stillServes(url, address, before), sleep(30_000).then(() => 'no answer within 30 s')]);
  // A new address first; when the broker can make no more queues (maxQueues: the cases' made-up
  // addresses hold messages nobody takes), one that exists.
  const why = await serves(`after-fuzz-${SEED}`, 0);
  const existing = (await brokerStats(false))?.existing;
  if (why === undefined) serving = 'yes';
  else if (/maxQueues/.test(why) && existing) {
    const whyNot = await serves(existing.address, existing.depth);
    serving =
      whyNot === undefined
        ? `on queues that exist (${existing.address}) only: a new address is refused (${why})`
        : `NO: ${why}; and on ${existing.address}: ${whyNot}`;
    if (whyNot === undefined) warnings.push(`the broker serves queues that exist, but makes no new one: ${why}`);
    else failures.push(`the broker no longer serves a well-behaved client: ${whyNot}`);
  } else {
    serving = `NO: ${why}`;
    failures.push(`the broker no longer serves a well-behaved client: ${why}`);
  }
  const left = await untilForgotten();
  if (left !== 0) failures.push(`the broker still counts ${left} connections after the last client closed`);
  else serving += ', and forgot its connection';
}

// ---------------------------------------------------------------------------------------------
// The figures.

const header = [
  'at',
  'cases',
  'seconds',
  'cases/s',
  'crashes',
  'hangs',
  'late',
  'RSS MB',
  'heap MB',
  'heap total MB',
  'external MB',
  'queues',
  'messages',
  'stored MB',
  'conns left',
];
const table = rows.map((r) => [
  r.label,
  String(r.cases),
  r.seconds.toFixed(0),
  r.rate.toFixed(0),
  String(r.crashes),
  String(r.hang),
  String(r.late),
  r.stats ? MB(r.stats.rss) : '-',
  r.stats ? MB(r.stats.heapUsed) : '-',
  r.stats ? MB(r.stats.heapTotal) : '-',
  r.stats ? MB(r.stats.external) : '-',
  r.stats ? String(r.stats.queues) : '-',
  r.stats ? String(r.stats.depth) : '-',
  r.stats ? MB(r.stats.storedBytes) : '-',
  String(r.connectionsLeft),
]);
const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i].length)));
const line = (/** @type {string[]} */ cells) =>
  `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
console.log('');
console.log(line(header));
console.log(`|${widths.map((w, i) => (i === 0 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`);
for (const row of table) console.log(line(row));
console.log(
  "(crashes, hangs and late verdicts: totals so far; RSS, heap (used, total) and external: the broker's, after a full GC, once every case so far had closed)",
);
console.log('');
console.log(
  `verdicts: established ${totals.established}, closed ${totals.closed}; ${totals.slow} after more than 100 ms, the slowest ${totals.slowestMs.toFixed(0)} ms; ` +
    `late ${totals.late} (played again alone: ${replayedLate.length}, late again: ${replayedLate.filter((r) => r.late || r.verdict === 'hang').length}), hangs ${totals.hang}, refused ${totals.refused}`,
);
console.log(
  `cases by auth/shape: ${Object.entries(totals.byKind)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, n]) => `${k} ${n}`)
    .join(', ')}`,
);
const first = rows[0]?.stats;
const last = [...rows].reverse().find((r) => r.stats)?.stats;
console.log('');
console.log(
  `listener fuzz: ${totals.cases} cases (seed ${SEED}, concurrency ${CONCURRENCY}) in ${seconds.toFixed(0)} s (${Math.round(totals.cases / seconds)}/s); ` +
    `${crash ? 1 : 0} crashes, ${totals.hang} hangs, ${totals.late} late; broker RSS ${first ? MB(first.rss) : '?'} -> ${last ? MB(last.rss) : '?'} MB, heap ${first ? MB(first.heapUsed) : '?'} -> ${last ? MB(last.heapUsed) : '?'} MB after GC; ` +
    `still serving: ${serving}`,
);
for (const w of warnings) console.log(`NOTE: ${w}`);
for (const f of failures) console.log(`FAILED: ${f}`);

stopping = true;
if (child.exitCode === null && !crash) {
  child.send({ type: 'stop' });
  await Promise.race([new Promise((r) => child.once('exit', r)), sleep(5000)]);
  if (child.exitCode === null) child.kill();
}
process.exit(failures.length > 0 ? 1 : 0);
