// Peer-to-peer benchmark over loopback: Quark to Quark and rhea to rhea, in the same run, each pair
// as TWO processes (a listening receiver and a connecting sender), forked by this driver.
//
// Scenarios (QUICK=1, BENCH_QUICK=1 or --quick: 10x fewer messages, one round):
//   a  200,000 messages of 100 bytes, at-least-once: the receiver accepts each, the sender counts settlements
//   b  the same, at-most-once (pre-settled)
//   c  1,000 messages of 1 MiB, at-least-once
//   d  10,000 sequential awaited sends of 100 bytes (send, await settlement, next): latency percentiles
//
// For each pair it prints msgs/s, CPU microseconds per message (user+sys, process.cpuUsage) of the
// sender and of the receiver process, the peak RSS of each (process.resourceUsage().maxRSS), the
// Quark/rhea ratios, and PASS/MISS against the targets below.
//
// Every message carries its sequence number (first 4 bytes) and a check byte (the last byte); the
// receiver checks size, order and check byte of every message, the sender checks every outcome, and
// the driver checks that the counts agree exactly, so lost, duplicated, reordered or corrupted
// messages fail the run (exit 1) instead of reporting speed. Missed targets do not fail the run
// unless --strict is given.
//
// Settings shared by both libraries: TCP_NODELAY on both sockets (rhea: tcp_no_delay: true), the
// same receiver credit window (CREDIT below; rhea's credit_window, Quark's credit), the same
// max-frame-size (rhea's max_frame_size set to Quark's default of 262144), explicit accept of each
// message by the receiver (rhea autoaccept: false), body in one data section, message decoded by
// the receiver. Each process is timed from the driver's "go" (after a warm-up of the same link)
// until the driver's "stop" (after both ends finished), so a receiver's CPU includes writing its
// last dispositions.
//
// Usage: node bench/peer.mjs [a|b|c|d ...] [--quick] [--rounds=N] [--timeout=S] [--lib=L] [--strict] [--json]
//   --rounds=N        rounds per pair (default 3, QUICK 1), alternating which library goes first
//   --timeout=S       seconds one pair may take (default 300); then both processes are killed, and it fails
//   --lib=quark|rhea  run one library only (no ratios, no targets)
//   --cpu-prof[=DIR]  profile the Quark processes (one round, Quark only): the .cpuprofile files go to
//                     DIR (default: a new folder in the OS temp dir) and the top self-time functions
//                     of each are printed
//   QUARK_DIST=path/to/index.js   load Quark from another build than ../dist/esm/index.js
//   PEER_BENCH_MEM=1              each process prints its memory use every 500 ms (stderr)
//   PEER_BENCH_NODE_ARGS='--trace-gc'   extra node options for the child processes (diagnostics)
//   QUARK_BENCH_RX=1              the Quark receiver takes messages with deliveries$() instead of for-await
// (npm run bench builds dist/ first and runs every bench, this one included.)
import { fork } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setInterval } from 'node:timers';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { benchFlags } from './peers/bench-flags.mjs';
import { guardChild } from './peers/child-guard.mjs';

const require = createRequire(import.meta.url);
const CHILD_FLAG = '--peer-bench-child';
/** Where Quark is loaded from: the built dist/esm, or QUARK_DIST (a path to another build's index.js). */
const QUARK_URL = process.env.QUARK_DIST
  ? pathToFileURL(resolve(process.env.QUARK_DIST)).href
  : new URL('../dist/esm/index.js', import.meta.url).href;

const MIB = 1024 * 1024;
const MAX_FRAME_SIZE = 262144;
/** The receiver credit window of both libraries, per scenario. */
const CREDIT = { small: 500, large: 10 };
/** Quark sends are fired while fewer than this many are unresolved: twice the credit window. */
const OUTSTANDING_FACTOR = 2;

const SCENARIOS = {
  a: {
    title: '(a) 100 B messages, at-least-once',
    kind: 'throughput',
    count: 200_000,
    warmup: 20_000,
    size: 100,
    settled: false,
    credit: CREDIT.small,
  },
  b: {
    title: '(b) 100 B messages, at-most-once (pre-settled)',
    kind: 'throughput',
    count: 200_000,
    warmup: 20_000,
    size: 100,
    settled: true,
    credit: CREDIT.small,
  },
  c: {
    title: '(c) 1 MiB messages, at-least-once',
    kind: 'throughput',
    count: 1_000,
    warmup: 50,
    size: MIB,
    settled: false,
    credit: CREDIT.large,
  },
  d: {
    title: '(d) sequential awaited sends of 100 B, at-least-once',
    kind: 'latency',
    count: 10_000,
    warmup: 1_000,
    size: 100,
    settled: false,
    credit: CREDIT.small,
  },
};

const TARGETS = {
  throughputRatio: 3, // Quark msgs/s at least 3x rhea's on a, b, c
  cpuRatio: 1 / 3, // Quark CPU per message at most a third of rhea's, each process, on a, b, c
  rssMb: { a: 60, c: 100 }, // Quark peak RSS of each process
  p999Ms: 1, // Quark p99.9 latency on d
};

/** Seconds one pair may take before both its processes are killed (--timeout). */
let TIMEOUT_S = 300;

/** The check byte written in the last byte of message `seq`. */
const checkByte = (seq) => (seq * 31 + 7) & 0xff;

// =====================================================================================
// Child processes
// =====================================================================================

async function child(cfg) {
  const { post, fail } = guardChild();

  /** Handlers for the driver's commands, by type. */
  const commands = {};
  process.on('message', (m) => {
    const h = commands[m.type];
    if (!h) return fail(new Error(`unknown command ${m.type}`));
    Promise.resolve(h(m)).catch(fail);
  });
  let cpu0;
  const measure = () => {
    const cpu = process.cpuUsage(cpu0);
    return { cpuUs: cpu.user + cpu.system, maxRssKb: process.resourceUsage().maxRSS };
  };
  const exitSoon = () => {
    // A close that hangs must not keep the process: exit anyway after a grace period.
    setTimeout(() => process.exit(3), 5000).unref();
  };

  if (process.env.PEER_BENCH_MEM) {
    // Diagnostics: the memory of each process, every 500 ms, on stderr.
    setInterval(() => {
      const m = process.memoryUsage();
      const mb = (x) => (x / 1048576).toFixed(0);
      console.error(
        `[${cfg.lib} ${cfg.role}] rss ${mb(m.rss)} heapTotal ${mb(m.heapTotal)} heapUsed ${mb(m.heapUsed)} external ${mb(m.external)} arrayBuffers ${mb(m.arrayBuffers)} MB`,
      );
    }, 500).unref();
  }

  const total = cfg.warmup + cfg.count;
  const template = Buffer.alloc(cfg.size, 0x61);
  // Each library used as its contract says. rhea copies every body when it encodes it, and so does
  // Quark below 64 KiB: one template is reused. From 64 KiB Quark sends a body by reference (the
  // caller leaves it unchanged until the send settles, as with socket.write()): each message gets
  // a buffer of its own there, copied from the template in this process, as rhea's copy is in its.
  const byReference = cfg.lib === 'quark' && cfg.size >= 65536;
  /** The body of message `seq`. */
  const body = (seq) => {
    template.writeUInt32BE(seq, 0);
    template[cfg.size - 1] = checkByte(seq);
    return byReference ? Buffer.from(template) : template;
  };

  if (cfg.role === 'receiver') {
    let received = 0;
    let doneAt;
    const errors = [];
    const error = (e) => {
      if (errors.length < 10) errors.push(e);
    };
    /** Checks one message body (a Uint8Array) and the sender's settlement; counts it. */
    const onMessage = (bytes, remoteSettled) => {
      const seq = received;
      if (bytes === undefined || bytes.length !== cfg.size)
        error(`message ${seq}: body of ${bytes?.length} bytes, expected ${cfg.size}`);
      else {
        const got = ((bytes[0] << 24) >>> 0) + (bytes[1] << 16) + (bytes[2] << 8) + bytes[3];
        if (got !== seq) error(`message ${seq}: carries sequence number ${got} (lost, duplicated or reordered)`);
        if (bytes[cfg.size - 1] !== checkByte(seq)) error(`message ${seq}: wrong check byte`);
      }
      if (remoteSettled !== cfg.settled)
        error(`message ${seq}: sender-settled ${remoteSettled}, expected ${cfg.settled}`);
      received++;
      if (received === cfg.warmup) post({ type: 'warm' });
      else if (received === total) {
        doneAt = process.hrtime.bigint();
        post({ type: 'done', at: String(doneAt) });
      } else if (received > total) error(`message ${seq}: more messages than sent`);
    };
    commands.go = () => {
      cpu0 = process.cpuUsage();
      post({ type: 'going' });
    };
    commands.stop = () => post({ type: 'stats', received, errors, ...measure() });
    commands.progress = () =>
      post({
        type: 'progress',
        text: `received ${received} of ${total}${errors.length ? `, errors: ${errors.join('; ')}` : ''}`,
      });

    if (cfg.lib === 'quark') {
      const quark = await import(QUARK_URL);
      const listener = await quark.listen({ host: '127.0.0.1', port: 0, maxFrameSize: MAX_FRAME_SIZE });
      /** Takes each message of one receiver: the for-await loop of the README, or (QUARK_BENCH_RX=1) deliveries$(). */
      const consume = async (receiver) => {
        const onDelivery = (d) => {
          onMessage(d.message.body, d.remoteSettled);
          if (!cfg.settled) d.accept();
        };
        if (process.env.QUARK_BENCH_RX) {
          receiver.deliveries$().subscribe({ next: onDelivery, error: (e) => error(`receiver: ${e.message}`) });
          return;
        }
        try {
          for await (const d of receiver) onDelivery(d);
        } catch (e) {
          error(`receiver: ${e.message}`);
        }
      };
      void (async () => {
        for await (const link of listener) void consume(link.acceptAsReceiver({ credit: cfg.credit }));
      })();
      commands.exit = async () => {
        exitSoon();
        await listener.close();
        process.exit(0);
      };
      post({ type: 'listening', port: listener.port });
    } else {
      const rhea = require('rhea');
      const container = rhea.create_container();
      const connections = new Set();
      container.on('connection_open', (ctx) => connections.add(ctx.connection));
      container.on('disconnected', (ctx) => connections.delete(ctx.connection));
      container.on('message', (ctx) => {
        const content = ctx.message.body?.content;
        onMessage(content, ctx.delivery.remote_settled === true);
        // For a pre-settled message this only settles it locally (no disposition is sent), which
        // rhea needs: unsettled incoming deliveries fill its session window and stop the link.
        ctx.delivery.accept();
      });
      container.on('error', (ctx) => error(`rhea: ${ctx.error?.message ?? ctx.error}`));
      const server = container.listen({
        host: '127.0.0.1',
        port: 0,
        tcp_no_delay: true,
        credit_window: cfg.credit,
        autoaccept: false,
        max_frame_size: MAX_FRAME_SIZE,
      });
      await new Promise((res, rej) => {
        server.once('listening', res);
        server.once('error', rej);
      });
      commands.exit = async () => {
        exitSoon();
        for (const c of connections) c.close();
        await new Promise((res) => server.close(res));
        process.exit(0);
      };
      post({ type: 'listening', port: server.address().port });
    }
    return;
  }

  // ---- Sender ----
  let phase; // { n, first, resolve, reject, ... } of the run in progress
  const outcomes = { settled: 0, accepted: 0, other: 0 };
  let latencies;

  commands.go = async () => {
    cpu0 = process.cpuUsage();
    const start = process.hrtime.bigint();
    if (cfg.kind === 'latency') latencies = await sequential(cfg.warmup, cfg.count);
    else await burst(cfg.warmup, cfg.count);
    const doneAt = process.hrtime.bigint();
    post({ type: 'done', start: String(start), at: String(doneAt) });
  };
  commands.stop = () => {
    const m = measure();
    const summary = latencies ? percentiles(latencies) : undefined;
    post({ type: 'stats', ...outcomes, ...m, latency: summary });
  };

  commands.progress = () =>
    post({ type: 'progress', text: `${outcomes.settled} of ${total} settled (${outcomes.other} not accepted)` });

  const warm = async () => {
    if (cfg.kind === 'latency') await sequential(0, cfg.warmup);
    else await burst(0, cfg.warmup);
    post({ type: 'warm' });
  };

  /** Runs `fn(resolve)` and returns how long each message took, for `sequential`. */
  let burst;
  let sequential;

  if (cfg.lib === 'quark') {
    const quark = await import(QUARK_URL);
    const connection = await quark.connect({ host: '127.0.0.1', port: cfg.port, maxFrameSize: MAX_FRAME_SIZE });
    const sender = await connection.createSender({
      target: 'bench',
      deliveryMode: cfg.settled ? 'at-most-once' : 'at-least-once',
    });
    const cap = cfg.credit * OUTSTANDING_FACTOR;
    const checkOutcome = (r) => {
      outcomes.settled++;
      if (cfg.settled ? r === undefined : r?.kind === 'accepted') outcomes.accepted++;
      else outcomes.other++;
    };
    burst = (first, n) =>
      new Promise((res, rej) => {
        let next = 0;
        let done = 0;
        let outstanding = 0;
        const onSettled = (r) => {
          checkOutcome(r);
          outstanding--;
          if (++done === n) res();
          else pump();
        };
        const pump = () => {
          while (outstanding < cap && next < n) {
            outstanding++;
            sender.send({ body: body(first + next++) }).then(onSettled, rej);
          }
        };
        pump();
      });
    sequential = async (first, n) => {
      const lat = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const t0 = process.hrtime.bigint();
        checkOutcome(await sender.send({ body: body(first + i) }));
        lat[i] = Number(process.hrtime.bigint() - t0) / 1000;
      }
      return lat;
    };
    commands.exit = async () => {
      exitSoon();
      await connection.close();
      process.exit(0);
    };
  } else {
    const rhea = require('rhea');
    const container = rhea.create_container();
    const connection = container.connect({
      host: '127.0.0.1',
      port: cfg.port,
      tcp_no_delay: true,
      max_frame_size: MAX_FRAME_SIZE,
      reconnect: false,
    });
    const sender = connection.open_sender({ target: { address: 'bench' }, snd_settle_mode: cfg.settled ? 1 : 0 });
    const section = rhea.message.data_section;
    const onOutcome = (accepted) => {
      outcomes.settled++;
      if (accepted) outcomes.accepted++;
      else outcomes.other++;
      phase?.onSettled();
    };
    sender.on('accepted', () => onOutcome(true));
    for (const ev of ['rejected', 'released', 'modified']) sender.on(ev, () => onOutcome(false));
    sender.on('sendable', () => phase?.pump());
    container.on('error', (ctx) => fail(ctx.error ?? new Error('rhea error')));
    container.on('disconnected', (ctx) => {
      if (!closing) fail(ctx.error ?? new Error('rhea sender disconnected'));
    });
    let closing = false;
    await new Promise((res) => sender.once('sendable', res));
    burst = (first, n) =>
      new Promise((res) => {
        let next = 0;
        let done = 0;
        const finish = () => {
          phase = undefined;
          res();
        };
        phase = {
          pump: () => {
            while (next < n && sender.sendable()) {
              sender.send({ body: section(body(first + next++)) });
              if (cfg.settled) {
                outcomes.settled++;
                outcomes.accepted++;
                done++;
              }
            }
            if (cfg.settled && done === n) finish();
          },
          onSettled: () => {
            if (++done === n) finish();
            else phase.pump();
          },
        };
        phase.pump();
      });
    sequential = async (first, n) => {
      const lat = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        if (!sender.sendable()) await new Promise((res) => sender.once('sendable', res));
        const t0 = process.hrtime.bigint();
        await new Promise((res) => {
          phase = { onSettled: res, pump: () => {} };
          sender.send({ body: section(body(first + i)) });
        });
        lat[i] = Number(process.hrtime.bigint() - t0) / 1000;
      }
      phase = undefined;
      return lat;
    };
    commands.exit = async () => {
      exitSoon();
      closing = true;
      await new Promise((res) => {
        connection.once('connection_close', res);
        connection.once('disconnected', res);
        connection.close();
      });
      process.exit(0);
    };
  }
  await warm();
}

/** p50, p99, p99.9 and max of latencies in microseconds. */
function percentiles(lat) {
  const s = Float64Array.from(lat).sort();
  const at = (q) => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
  return { p50: at(0.5), p99: at(0.99), p999: at(0.999), max: s[s.length - 1], n: s.length };
}

// =====================================================================================
// Driver
// =====================================================================================

async function driver() {
  const args = process.argv.slice(2);
  const { flags, quick } = benchFlags(args, ['rounds', 'timeout', 'lib', 'strict', 'json', 'cpu-prof']);
  const profDir = flags.has('cpu-prof')
    ? resolve(
        flags.get('cpu-prof') === true ? join(tmpdir(), `quark-peer-cpu-prof-${process.pid}`) : flags.get('cpu-prof'),
      )
    : undefined;
  const rounds = profDir ? 1 : Number(flags.get('rounds') ?? (quick ? 1 : 3));
  const names = args.filter((a) => !a.startsWith('--'));
  if (flags.has('timeout')) TIMEOUT_S = Number(flags.get('timeout'));
  const unknown = names.filter((n) => !(n in SCENARIOS));
  if (unknown.length > 0 || !(rounds >= 1)) {
    console.error(
      `peer bench: unknown scenario ${unknown.join(', ')} (known: ${Object.keys(SCENARIOS).join(', ')}) or bad --rounds`,
    );
    process.exit(2);
  }
  const selected = names.length > 0 ? names : Object.keys(SCENARIOS);
  const libs = profDir ? ['quark'] : flags.has('lib') ? [flags.get('lib')] : ['quark', 'rhea'];
  if (!libs.every((l) => l === 'quark' || l === 'rhea')) {
    console.error('peer bench: --lib must be quark or rhea');
    process.exit(2);
  }
  if (profDir) mkdirSync(profDir, { recursive: true });

  const rheaVersion = require('rhea/package.json').version;
  if (!flags.has('json')) {
    console.log(
      `Peer to peer over loopback, two processes per pair (listening receiver, sending client); ${process.version}, rhea ${rheaVersion}`,
    );
    console.log(
      `  credit window: ${CREDIT.small} (a, b, d), ${CREDIT.large} (c), both libraries; Quark sender keeps at most ${OUTSTANDING_FACTOR}x credit sends unresolved; ` +
        `rhea sends while sendable(); max-frame-size ${MAX_FRAME_SIZE} both; TCP_NODELAY both`,
    );
    console.log(
      `  ${quick ? 'QUICK (10x fewer messages)' : 'full size'}; ${rounds} round(s) per pair, alternating which library goes first; median reported (peak RSS: max)`,
    );
  }

  const results = {};
  const failures = [];
  for (const name of selected) {
    const base = SCENARIOS[name];
    const scen = {
      ...base,
      count: quick ? base.count / 10 : base.count,
      warmup: quick ? Math.max(10, base.warmup / 10) : base.warmup,
    };
    const runs = { quark: [], rhea: [] };
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? libs : [...libs].reverse();
      for (const lib of order) {
        try {
          const r = await runPair(lib, name, scen, profDir);
          const problems = verify(scen, r);
          if (problems.length > 0) throw new Error(problems.join('; '));
          runs[lib].push(r);
        } catch (e) {
          failures.push(`${name}/${lib}: ${e.message}`);
          console.error(`FAILED ${name}/${lib}: ${e.message}`);
        }
      }
    }
    if (libs.every((lib) => runs[lib].length > 0)) {
      results[name] = Object.fromEntries(libs.map((lib) => [lib, summarize(scen, runs[lib])]));
      if (!flags.has('json')) report(name, scen, results[name]);
    }
  }

  const misses = [];
  let checked = 0;
  for (const [name, r] of Object.entries(results)) {
    if (!r.rhea || !r.quark) continue;
    const t = checkTargets(name, r);
    checked += t.length;
    misses.push(...t.filter((x) => !x.pass).map((x) => `${name}: ${x.what}`));
  }
  if (profDir) summarizeProfiles(profDir);
  if (flags.has('json')) console.log(JSON.stringify({ quick, rounds, credit: CREDIT, results, misses, failures }));
  else {
    console.log('');
    console.log(
      failures.length === 0
        ? 'verified: every message arrived once, in order, intact; every outcome as expected'
        : `FAILED: ${failures.length} pair run(s)`,
    );
    if (checked === 0) console.log('targets: none checked (they compare Quark with rhea in the same run)');
    else
      console.log(
        misses.length === 0
          ? `targets: all ${checked} PASS`
          : `targets: ${misses.length} of ${checked} MISS (${misses.join('; ')})`,
      );
  }
  if (failures.length > 0 || (flags.has('strict') && misses.length > 0)) process.exit(1);
}

/** Runs one sender/receiver pair to completion; resolves with both processes' figures. */
async function runPair(lib, name, scen, profDir) {
  const timeoutMs = TIMEOUT_S * 1000;
  const children = [];
  const spawn = (role, extra) => {
    const execArgv = profDir
      ? [
          '--cpu-prof',
          '--cpu-prof-interval=100',
          `--cpu-prof-dir=${profDir}`,
          `--cpu-prof-name=${lib}-${name}-${role}-${Date.now()}.cpuprofile`,
        ]
      : [];
    if (process.env.PEER_BENCH_NODE_ARGS) execArgv.push(...process.env.PEER_BENCH_NODE_ARGS.split(' ').filter(Boolean));
    const cfg = { role, lib, ...scen, ...extra };
    const c = fork(fileURLToPath(import.meta.url), [CHILD_FLAG, JSON.stringify(cfg)], {
      execArgv,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const inbox = [];
    const waiting = [];
    let failure;
    c.exited = new Promise((res) => c.once('exit', (code, signal) => res({ code, signal })));
    const onFailure = (err) => {
      failure ??= err;
      for (const w of waiting.splice(0)) w.reject(failure);
    };
    c.on('message', (m) => {
      if (m.type === 'error') return onFailure(new Error(`${lib} ${role}: ${m.message}`));
      const i = waiting.findIndex((w) => w.type === m.type);
      if (i >= 0) waiting.splice(i, 1)[0].resolve(m);
      else inbox.push(m);
    });
    c.once('exit', (code, signal) =>
      onFailure(new Error(`${lib} ${role} exited (${signal ?? `code ${code}`}) before it was done`)),
    );
    /** The next message of `type` from this child. */
    c.next = (type) => {
      const i = inbox.findIndex((m) => m.type === type);
      if (i >= 0) return Promise.resolve(inbox.splice(i, 1)[0]);
      if (failure) return Promise.reject(failure);
      return new Promise((resolve, reject) => waiting.push({ type, resolve, reject }));
    };
    c.post = (m) => {
      if (c.connected) c.send(m);
    };
    children.push(c);
    return c;
  };
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => {
      // Say where each process got to, then give up.
      for (const c of children) c.post({ type: 'progress' });
      const said = children.map((c) =>
        Promise.race([
          c.next('progress').then(
            (m) => m.text,
            () => 'gone',
          ),
          new Promise((res) => setTimeout(() => res('no answer'), 1000)),
        ]),
      );
      void Promise.all(said).then((texts) =>
        reject(
          new Error(`timed out after ${timeoutMs / 1000} s: receiver ${texts[0] ?? '-'}; sender ${texts[1] ?? '-'}`),
        ),
      );
    }, timeoutMs);
  });
  try {
    return await Promise.race([
      timeout,
      (async () => {
        const receiver = spawn('receiver', {});
        const { port } = await receiver.next('listening');
        const sender = spawn('sender', { port });
        await Promise.all([receiver.next('warm'), sender.next('warm')]);
        receiver.post({ type: 'go' });
        await receiver.next('going');
        sender.post({ type: 'go' });
        const [rDone, sDone] = await Promise.all([receiver.next('done'), sender.next('done')]);
        // Let the last dispositions and flows be written before the figures are taken.
        await new Promise((res) => setTimeout(res, 50));
        receiver.post({ type: 'stop' });
        sender.post({ type: 'stop' });
        const [rStats, sStats] = await Promise.all([receiver.next('stats'), sender.next('stats')]);
        const start = BigInt(sDone.start);
        const end = BigInt(rDone.at) > BigInt(sDone.at) ? BigInt(rDone.at) : BigInt(sDone.at);
        sender.post({ type: 'exit' });
        const sExit = await sender.exited;
        receiver.post({ type: 'exit' });
        const rExit = await receiver.exited;
        if (sExit.code !== 0 || rExit.code !== 0)
          throw new Error(
            `a process did not exit cleanly (sender ${sExit.signal ?? sExit.code}, receiver ${rExit.signal ?? rExit.code})`,
          );
        return { seconds: Number(end - start) / 1e9, receiver: rStats, sender: sStats };
      })(),
    ]);
  } finally {
    clearTimeout(timer);
    for (const c of children) {
      if (c.exitCode === null && c.signalCode === null) {
        c.kill('SIGKILL');
        await c.exited;
      }
    }
  }
}

/** The checks that make the numbers trustworthy: exact counts, every outcome as expected. */
function verify(scen, r) {
  const total = scen.warmup + scen.count;
  const p = [];
  if (r.receiver.errors.length > 0) p.push(`receiver: ${r.receiver.errors.join('; ')}`);
  if (r.receiver.received !== total) p.push(`receiver got ${r.receiver.received} messages, expected ${total}`);
  if (r.sender.settled !== total) p.push(`sender saw ${r.sender.settled} settlements, expected ${total}`);
  if (r.sender.accepted !== total || r.sender.other !== 0)
    p.push(`sender: ${r.sender.accepted} accepted, ${r.sender.other} other outcomes, expected ${total} accepted`);
  if (scen.kind === 'latency' && r.sender.latency?.n !== scen.count) p.push('sender reported no latencies');
  return p;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

function summarize(scen, runs) {
  return {
    rounds: runs.length,
    msgsPerSec: median(runs.map((r) => scen.count / r.seconds)),
    senderCpuUs: median(runs.map((r) => r.sender.cpuUs / scen.count)),
    receiverCpuUs: median(runs.map((r) => r.receiver.cpuUs / scen.count)),
    /** Best of the rounds (the least disturbed by other load on the machine); JSON output only. */
    best: {
      msgsPerSec: Math.max(...runs.map((r) => scen.count / r.seconds)),
      senderCpuUs: Math.min(...runs.map((r) => r.sender.cpuUs / scen.count)),
      receiverCpuUs: Math.min(...runs.map((r) => r.receiver.cpuUs / scen.count)),
    },
    senderRssMb: Math.max(...runs.map((r) => r.sender.maxRssKb / 1024)),
    receiverRssMb: Math.max(...runs.map((r) => r.receiver.maxRssKb / 1024)),
    latency:
      scen.kind === 'latency'
        ? {
            p50: median(runs.map((r) => r.sender.latency.p50)),
            p99: median(runs.map((r) => r.sender.latency.p99)),
            p999: median(runs.map((r) => r.sender.latency.p999)),
            max: Math.max(...runs.map((r) => r.sender.latency.max)),
          }
        : undefined,
  };
}

function checkTargets(name, r) {
  const q = r.quark;
  const h = r.rhea;
  const t = [];
  if (name === 'a' || name === 'b' || name === 'c') {
    const ratio = q.msgsPerSec / h.msgsPerSec;
    t.push({
      what: `throughput >= ${TARGETS.throughputRatio}x rhea`,
      got: `${ratio.toFixed(2)}x`,
      pass: ratio >= TARGETS.throughputRatio,
    });
    for (const side of ['sender', 'receiver']) {
      const c = q[`${side}CpuUs`] / h[`${side}CpuUs`];
      t.push({ what: `${side} CPU/msg <= 1/3 of rhea`, got: `${c.toFixed(2)}x`, pass: c <= TARGETS.cpuRatio });
    }
  }
  const rssLimit = TARGETS.rssMb[name];
  if (rssLimit !== undefined) {
    for (const side of ['sender', 'receiver']) {
      const mb = q[`${side}RssMb`];
      t.push({ what: `${side} peak RSS <= ${rssLimit} MB`, got: `${mb.toFixed(0)} MB`, pass: mb <= rssLimit });
    }
  }
  if (name === 'd') {
    const ms = q.latency.p999 / 1000;
    t.push({ what: `p99.9 <= ${TARGETS.p999Ms} ms`, got: `${ms.toFixed(3)} ms`, pass: ms <= TARGETS.p999Ms });
  }
  return t;
}

function report(name, scen, r) {
  console.log('');
  console.log(
    `${scen.title}: ${scen.count.toLocaleString('en-US')} messages of ${scen.size >= MIB ? `${scen.size / MIB} MiB` : `${scen.size} B`} after ${scen.warmup.toLocaleString('en-US')} warm-up; credit ${scen.credit}`,
  );
  const lat = scen.kind === 'latency';
  const head = [
    '',
    'msgs/s',
    'sender CPU us/msg',
    'receiver CPU us/msg',
    'sender peak RSS',
    'receiver peak RSS',
    ...(lat ? ['p50', 'p99', 'p99.9', 'max'] : []),
  ];
  const fmt = (x, d = 1) => x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
  const us = (x) => (x >= 1000 ? `${fmt(x / 1000, 2)} ms` : `${fmt(x, 0)} us`);
  const row = (label, s) => [
    label,
    fmt(s.msgsPerSec, 0),
    fmt(s.senderCpuUs, s.senderCpuUs < 100 ? 2 : 0),
    fmt(s.receiverCpuUs, s.receiverCpuUs < 100 ? 2 : 0),
    `${fmt(s.senderRssMb, 0)} MB`,
    `${fmt(s.receiverRssMb, 0)} MB`,
    ...(lat ? [us(s.latency.p50), us(s.latency.p99), us(s.latency.p999), us(s.latency.max)] : []),
  ];
  const rows = [head];
  if (r.quark) rows.push(row('Quark', r.quark));
  if (r.rhea) rows.push(row('rhea', r.rhea));
  if (r.quark && r.rhea) {
    const q = r.quark;
    const h = r.rhea;
    const x = (a, b) => `${(a / b).toFixed(2)}x`;
    rows.push([
      'Quark/rhea',
      x(q.msgsPerSec, h.msgsPerSec),
      x(q.senderCpuUs, h.senderCpuUs),
      x(q.receiverCpuUs, h.receiverCpuUs),
      x(q.senderRssMb, h.senderRssMb),
      x(q.receiverRssMb, h.receiverRssMb),
      ...(lat
        ? [
            x(q.latency.p50, h.latency.p50),
            x(q.latency.p99, h.latency.p99),
            x(q.latency.p999, h.latency.p999),
            x(q.latency.max, h.latency.max),
          ]
        : []),
    ]);
  }
  const widths = head.map((_, col) => Math.max(...rows.map((rw) => rw[col].length)));
  const line = (rw) =>
    '| ' +
    rw.map((cell, col) => (col === 0 ? cell.padEnd(widths[col]) : cell.padStart(widths[col]))).join(' | ') +
    ' |';
  console.log(line(rows[0]));
  console.log(
    '|' + widths.map((w, col) => (col === 0 ? ':' + '-'.repeat(w + 1) : '-'.repeat(w + 1) + ':')).join('|') + '|',
  );
  for (const rw of rows.slice(1)) console.log(line(rw));
  if (r.quark && r.rhea)
    for (const t of checkTargets(name, r)) console.log(`  ${t.pass ? 'PASS' : 'MISS'}  Quark ${t.what}: ${t.got}`);
}

/** Prints the functions with the most self time in each profile written to `dir`. */
function summarizeProfiles(dir) {
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .sort()) {
    const prof = JSON.parse(readFileSync(join(dir, file), 'utf8'));
    const byId = new Map(prof.nodes.map((n) => [n.id, n]));
    const self = new Map();
    const dt = prof.timeDeltas;
    let total = 0;
    for (let i = 0; i < prof.samples.length; i++) {
      const n = byId.get(prof.samples[i]);
      const f = n.callFrame;
      const key =
        `${f.functionName || '(anonymous)'} ${f.url ? `${f.url.replace(/^.*\/(dist|node_modules)\//, '$1/')}:${f.lineNumber + 1}` : ''}`.trim();
      const d = dt[i] ?? 0;
      self.set(key, (self.get(key) ?? 0) + d);
      total += d;
    }
    console.log(`\n${file}: top self time (of ${(total / 1000).toFixed(0)} ms sampled)`);
    for (const [k, v] of [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 25))
      console.log(`  ${((100 * v) / total).toFixed(1).padStart(5)}%  ${k}`);
  }
}

if (process.argv[2] === CHILD_FLAG) {
  await child(JSON.parse(process.argv[3]));
} else {
  await driver();
}
