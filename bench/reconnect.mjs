// Reconnect benchmark over loopback: how long after a crashed broker is reachable again do
// messages flow again, Quark and rhea in the same run.
//
// The broker is Quark's embedded broker (startBroker) in a child process of its own on a fixed
// loopback port, so a crash is a real process death (SIGKILL). Each library runs as one client
// process (forked by this driver) with a sender and a receiver on one connection and one queue:
// the client produces one message every INTERVAL ms (--interval) and the receiver accepts each.
// For each outage length D (--outages), and each round: the driver SIGKILLs the broker, waits D ms
// (to D * 1.25: see --spread), starts a new broker child on the same port and takes the instant it
// says "ready" ("reachable": its own CLOCK_MONOTONIC reading, the clock process.hrtime uses in
// every process). Its port is bound ~35-50 ms before that (the broker then loads rxjs), so an
// attempt made in that window connects and is served at "ready". Measured from "ready", per round:
//   open         the client's connection is open again (Quark: 'reconnected' on conn.events$;
//                rhea: 'connection_open' on the reconnected connection)
//   accept->open the broker accepted the successful attempt's TCP connection -> open (the
//                library's handshake: SASL, open, both ways; the backoff does not enter it)
//   first msg    the first message of any kind reaches the receiver again
//   first new    the first message produced at or after the reachable instant reaches the receiver
//                (so it includes re-attaching both links and flushing what piled up meanwhile)
//   open->new    first new - open: re-attach and catch-up, with the backoff taken out
//   attempts     connection attempts the client made in that outage
// Two schedules: each library's DEFAULT reconnect settings (Quark: first retry at once, then 100 ms
// doubling to 10 s, jitter 0.2; rhea 3: 100 ms doubling to 60 s, no jitter, none at once), and
// both set to a fixed 50 ms retry (Quark { initialDelay: 50, maxDelay: 50, multiplier: 1,
// jitter: 0 }, whose first retry is still at once; rhea reconnect: 50), so that the comparison
// isolates the library from its backoff.
//
// Same behaviour asked of both: messages produced while the connection is down wait and go out
// after the reconnect, in order. Quark does this itself (send() waits; createSender with
// inDoubt: 'resend' sends again what was unsettled at the drop). rhea drops what was unsettled at
// a drop without an event and does not queue sends, so its client does what a careful rhea app
// must: it keeps its own queue of produced messages, sends while sender.sendable(), and on
// 'disconnected' puts every unsettled message back at the front of that queue.
//
// Counts, per library and schedule: produced, accepted by the broker, received (distinct),
// duplicates, lost. An in-memory broker that is SIGKILLed loses what it held: a message the broker
// accepted before a kill and never delivered is "lost in the crash" (expected, not the client's
// fault); one accepted after the last crash before it and never received is "lost" and fails the
// run (exit 1), as do a round that does not recover in time and sends that never settle.
// CPU of the client process (user+sys per message produced, over its whole run) and its peak RSS
// are printed too; they mostly reflect the steady stream, not the reconnects.
//
// Usage: node bench/reconnect.mjs [--quick] [--rounds=N] [--outages=200,1000,3000] [--interval=MS]
//                                 [--spread=F] [--port=P] [--timeout=S] [--schedule=S] [--lib=L] [--json]
//   --quick      one round, outages 200 and 1000 ms (a smoke test, not a measurement)
//   --rounds=N   rounds per outage length and library (default 4)
//   --interval   ms between two produced messages (default 2)
//   --spread=F   each round's outage is D * (1 + F * u), u in [0, 1) from a fixed sequence, the same for
//                both libraries (default 0.25; 0 for exactly D, see outageLength)
//   --port=P     the broker's loopback port (default 45672; must be free)
//   --schedule=default|fixed50   run one of the two schedules only
//   --lib=quark|rhea             run one library only (no ratios)
//   --timeout=S  hard limit on the whole run (default 200); then every child is killed and it fails
//   QUARK_DIST=path/to/index.js   load Quark from another build than ../dist/esm/index.js
// (npm run bench builds dist/ first and runs every bench, this one included.)
import { fork } from 'node:child_process';
import { createRequire } from 'node:module';
import net from 'node:net';
import { resolve } from 'node:path';
import { clearInterval, setInterval } from 'node:timers';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { guardChild } from './peers/child-guard.mjs';
import { benchFlags } from './peers/bench-flags.mjs';

const require = createRequire(import.meta.url);
const BROKER_FLAG = '--reconnect-bench-broker';
const CLIENT_FLAG = '--reconnect-bench-client';
const QUARK_URL = process.env.QUARK_DIST
  ? pathToFileURL(resolve(process.env.QUARK_DIST)).href
  : new URL('../dist/esm/index.js', import.meta.url).href;
const HOST = '127.0.0.1';
/** The receiver credit window of both libraries. */
const CREDIT = 100;
/** Steady flow before each kill, after the previous round recovered. */
const STEADY_MS = 150;
/** A round must recover (first new message received) within this long of the reachable instant. */
const RECOVER_TIMEOUT_MS = 20_000;

const SCHEDULES = [
  {
    name: 'default',
    title:
      'DEFAULT reconnect settings (Quark: at once, then 100 ms x2 to 10 s, jitter 0.2; rhea: 100 ms x2 to 60 s, no jitter)',
    quark: undefined,
    rhea: true,
  },
  {
    name: 'fixed50',
    title:
      'SAME schedule, a fixed 50 ms retry (Quark { initialDelay: 50, maxDelay: 50, multiplier: 1, jitter: 0 }, first retry at once; rhea reconnect: 50)',
    quark: { initialDelay: 50, maxDelay: 50, multiplier: 1, jitter: 0 },
    rhea: 50,
  },
];

/** Now, in milliseconds of CLOCK_MONOTONIC (comparable between processes on this machine). */
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

// =====================================================================================
// Broker child: listens, says "ready <ms>", and "accept <ms>" for each TCP connection
// =====================================================================================

async function brokerChild(port) {
  // The driver is gone: never outlive it.
  process.on('disconnect', () => process.exit(0));
  const emit = net.Server.prototype.emit;
  net.Server.prototype.emit = function (event, ...args) {
    if (event === 'connection') process.stdout.write(`accept ${nowMs()}\n`);
    else if (event === 'listening') process.stdout.write(`listening ${nowMs()}\n`);
    return emit.call(this, event, ...args);
  };
  const { startBroker } = await import(QUARK_URL);
  try {
    await startBroker({ host: HOST, port });
  } catch (e) {
    process.stdout.write(`error ${e.message}\n`);
    process.exit(1);
  }
  process.stdout.write(`ready ${nowMs()}\n`);
}

// =====================================================================================
// Client child: one connection, a sender and a receiver, a steady stream
// =====================================================================================

async function clientChild(cfg) {
  const { post, fail } = guardChild();
  const started = nowMs();
  const cpu0 = process.cpuUsage();

  /** Per sequence number: when it was produced, when the broker accepted it, how often it arrived. */
  const producedAt = [];
  const acceptedAt = [];
  const receivedTimes = [];
  const c = {
    produced: 0,
    accepted: 0,
    notAccepted: 0,
    failed: 0,
    received: 0,
    distinct: 0,
    duplicates: 0,
    resent: 0,
    staleAccepts: 0,
  };
  const errors = [];
  const kills = [];
  let finishing = false;

  /** The outage in progress (from the drop until the driver has its figures). */
  let outage;
  const current = () => {
    if (!outage || outage.reported) outage = { attempts: 0, since: [], reported: false };
    return outage;
  };
  const check = () => {
    const o = outage;
    if (!o || o.reported || o.readyAt === undefined || o.openAt === undefined) return;
    for (let i = 0; i < o.since.length; i += 2) {
      const seq = o.since[i];
      if (producedAt[seq] >= o.readyAt) {
        o.reported = true;
        post({
          type: 'recovered',
          killAt: o.killAt,
          readyAt: o.readyAt,
          disconnectAt: o.disconnectAt,
          openAt: o.openAt,
          firstAt: o.since[1],
          firstNewAt: o.since[i + 1],
          attempts: o.attempts,
        });
        o.since = [];
        return;
      }
    }
  };
  const onDisconnected = () => {
    const o = current();
    o.disconnectAt ??= nowMs();
  };
  const onAttempt = () => {
    if (outage && !outage.reported) outage.attempts++;
  };
  const onOpen = () => {
    if (outage && !outage.reported && outage.openAt === undefined) {
      outage.openAt = nowMs();
      check();
    }
  };
  const onReceived = (seq) => {
    const t = nowMs();
    c.received++;
    if (receivedTimes[seq] === undefined) {
      receivedTimes[seq] = t;
      c.distinct++;
    } else c.duplicates++;
    if (outage && !outage.reported) {
      outage.since.push(seq, t);
      check();
    }
    drained?.();
  };
  const onOutcome = (seq, accepted) => {
    if (accepted) {
      acceptedAt[seq] = nowMs();
      c.accepted++;
    } else c.notAccepted++;
    drained?.();
  };
  const onFailed = (seq, e) => {
    c.failed++;
    if (errors.length < 5) errors.push(`send ${seq}: ${e.message}`);
    drained?.();
  };

  const commands = {
    killed: (m) => {
      kills.push(m.at);
      current().killAt = m.at;
    },
    ready: (m) => {
      current().readyAt = m.at;
      check();
    },
  };
  process.on('message', (m) => {
    const h = commands[m.type];
    if (!h) return fail(new Error(`unknown command ${m.type}`));
    Promise.resolve(h(m)).catch(fail);
  });

  /** Sends message `seq`; set by the library part below. */
  let send;
  /** Closes the connection; set by the library part below. */
  let close;
  /** Resolves once every produced message is settled and every accepted one received (or not, after a grace). */
  let drained;
  let flowing;
  const firstFlow = new Promise((res) => (flowing = res));

  if (cfg.lib === 'quark') {
    const quark = await import(QUARK_URL);
    const conn = await quark.connect({
      host: HOST,
      port: cfg.port,
      ...(cfg.reconnect === undefined ? {} : { reconnect: cfg.reconnect }),
    });
    conn.events$.subscribe({
      next: (ev) => {
        if (ev.type === 'disconnected') onDisconnected();
        else if (ev.type === 'reconnecting') onAttempt();
        else if (ev.type === 'reconnected') onOpen();
        else if (ev.type === 'closed' && !finishing) fail(new Error(`Quark connection closed: ${ev.error?.message}`));
      },
    });
    const sender = await conn.createSender(cfg.queue, { inDoubt: 'resend' });
    const receiver = await conn.createReceiver(cfg.queue, { credit: CREDIT });
    void (async () => {
      try {
        for await (const d of receiver) {
          onReceived(Number(d.message.body));
          try {
            d.accept();
          } catch {
            c.staleAccepts++; // received before a drop: the broker (a new one here) has no use for it
          }
        }
      } catch (e) {
        if (!finishing) fail(e);
      }
    })();
    send = (seq) =>
      sender.send({ body: seq }).then(
        (r) => onOutcome(seq, r?.kind === 'accepted'),
        (e) => onFailed(seq, e),
      );
    close = () => conn.close();
  } else {
    const rhea = require('rhea');
    const container = rhea.create_container();
    const options = {
      host: HOST,
      port: cfg.port,
      tcp_no_delay: true,
      reconnect: cfg.reconnect,
      // Called for the first connect and for every reconnect attempt: counts the attempts.
      connection_details: () => {
        onAttempt();
        return { host: HOST, port: cfg.port, options };
      },
    };
    const queue = []; // produced, not yet handed to rhea
    const unsettled = new Map(); // rhea delivery -> seq
    let sender;
    const pump = () => {
      while (queue.length > 0 && sender.sendable()) {
        const seq = queue.shift();
        unsettled.set(sender.send({ body: seq }), seq);
      }
    };
    const conn = container.connect(options);
    container.on('error', (ctx) => {
      if (errors.length < 5) errors.push(`rhea: ${ctx.error?.message ?? ctx.error}`);
    });
    conn.on('connection_open', onOpen);
    conn.on('disconnected', () => {
      if (finishing) return;
      onDisconnected();
      // rhea forgets the deliveries in flight at a drop: send them again, first, in order.
      if (unsettled.size > 0) {
        const again = [...unsettled.values()].sort((a, b) => a - b);
        unsettled.clear();
        c.resent += again.length;
        queue.unshift(...again);
      }
    });
    sender = conn.open_sender({ target: { address: cfg.queue } });
    const receiver = conn.open_receiver({ source: { address: cfg.queue }, credit_window: CREDIT, autoaccept: false });
    receiver.on('message', (ctx) => {
      onReceived(Number(ctx.message.body));
      ctx.delivery.accept();
    });
    const outcome = (accepted) => (ctx) => {
      const seq = unsettled.get(ctx.delivery);
      if (seq === undefined) return; // a delivery of a connection already lost (cannot happen: rhea drops them)
      unsettled.delete(ctx.delivery);
      onOutcome(seq, accepted);
    };
    sender.on('accepted', outcome(true));
    for (const ev of ['rejected', 'released', 'modified']) sender.on(ev, outcome(false));
    sender.on('sendable', pump);
    await new Promise((res) => sender.once('sendable', res));
    send = (seq) => {
      queue.push(seq);
      pump();
    };
    close = () =>
      new Promise((res) => {
        conn.once('connection_close', res);
        conn.once('disconnected', res);
        conn.close();
      });
  }

  // The stream.
  const tick = () => {
    const seq = c.produced++;
    producedAt[seq] = nowMs();
    send(seq);
    if (c.distinct >= 20) flowing();
  };
  const timer = setInterval(tick, cfg.interval);
  await firstFlow;
  post({ type: 'flowing' });

  commands.finish = async () => {
    clearInterval(timer);
    const lastKill = kills.length ? kills[kills.length - 1] : -Infinity;
    // Wait until every produced message is settled and every one accepted after the last crash has
    // arrived (those accepted before a crash may be gone with the broker), at most 5 s.
    await new Promise((res) => {
      const done = () => {
        if (c.accepted + c.notAccepted + c.failed < c.produced) return false;
        for (let s = 0; s < c.produced; s++)
          if (acceptedAt[s] > lastKill && receivedTimes[s] === undefined) return false;
        return true;
      };
      drained = () => {
        if (done()) res();
      };
      setTimeout(res, 5000);
      drained();
    });
    await sleep(100); // a late duplicate would show here
    drained = undefined;
    finishing = true;
    const cpu = process.cpuUsage(cpu0);
    const elapsedMs = nowMs() - started;
    // Each lost message: accepted, never received; in the crash when a kill came after its acceptance.
    let lostInCrash = 0;
    const lost = [];
    for (let s = 0; s < c.produced; s++) {
      if (acceptedAt[s] === undefined || receivedTimes[s] !== undefined) continue;
      if (kills.some((k) => k > acceptedAt[s])) lostInCrash++;
      else lost.push(s);
    }
    const unsettled = c.produced - c.accepted - c.notAccepted - c.failed;
    post({
      type: 'stats',
      ...c,
      lostInCrash,
      lost: lost.length,
      lostSeqs: lost.slice(0, 10),
      unsettled,
      errors,
      cpuUs: cpu.user + cpu.system,
      maxRssKb: process.resourceUsage().maxRSS,
      elapsedMs,
    });
    setTimeout(() => process.exit(3), 3000).unref();
    await close();
    process.exit(0);
  };
}

// =====================================================================================
// Driver
// =====================================================================================

/** Every child process still running, killed on the way out whatever the way out is. */
const children = new Set();
const killAll = () => {
  for (const ch of children) {
    try {
      ch.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
};

function forkChild(args, stdio) {
  const ch = fork(fileURLToPath(import.meta.url), args, { stdio });
  children.add(ch);
  ch.exited = new Promise((res) =>
    ch.once('exit', (code, signal) => {
      children.delete(ch);
      res({ code, signal });
    }),
  );
  return ch;
}

const withTimeout = (promise, ms, what) => {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, rej) => (timer = setTimeout(() => rej(new Error(`${what}: no answer within ${ms} ms`)), ms))),
  ]).finally(() => clearTimeout(timer));
};

/** Starts a broker child on `port`; resolves when it listens, with `readyAt` (its own clock reading). */
async function startBrokerChild(port) {
  const ch = forkChild([BROKER_FLAG, String(port)], ['ignore', 'pipe', 'inherit', 'ipc']);
  ch.spawnAt = nowMs();
  ch.accepts = [];
  let buffered = '';
  const ready = new Promise((res, rej) => {
    ch.stdout.setEncoding('utf8');
    ch.stdout.on('data', (chunk) => {
      buffered += chunk;
      for (let i = buffered.indexOf('\n'); i >= 0; i = buffered.indexOf('\n')) {
        const line = buffered.slice(0, i);
        buffered = buffered.slice(i + 1);
        const [word, rest] = [line.slice(0, line.indexOf(' ')), line.slice(line.indexOf(' ') + 1)];
        if (word === 'ready') res(Number(rest));
        else if (word === 'accept') ch.accepts.push(Number(rest));
        else if (word === 'listening') ch.listeningAt = Number(rest);
        else if (word === 'error') rej(new Error(`broker: ${rest}`));
      }
    });
    void ch.exited.then(({ code, signal }) =>
      rej(new Error(`broker child exited (${signal ?? `code ${code}`}) before it listened`)),
    );
  });
  ch.readyAt = await withTimeout(ready, 10_000, 'broker start');
  return ch;
}

async function killBroker(broker) {
  const at = nowMs();
  broker.kill('SIGKILL');
  await broker.exited;
  return at;
}

/** Forks the client of `lib`; messages from it are read with `next(type)`. */
function startClient(cfg) {
  const ch = forkChild([CLIENT_FLAG, JSON.stringify(cfg)], ['ignore', 'inherit', 'inherit', 'ipc']);
  const inbox = [];
  const waiting = [];
  let failure;
  const onFailure = (err) => {
    failure ??= err;
    for (const w of waiting.splice(0)) w.reject(failure);
  };
  ch.on('message', (m) => {
    if (m.type === 'error') return onFailure(new Error(`${cfg.lib} client: ${m.message}`));
    const i = waiting.findIndex((w) => w.type === m.type);
    if (i >= 0) waiting.splice(i, 1)[0].resolve(m);
    else inbox.push(m);
  });
  void ch.exited.then(({ code, signal }) =>
    onFailure(new Error(`${cfg.lib} client exited (${signal ?? `code ${code}`})`)),
  );
  ch.next = (type) => {
    const i = inbox.findIndex((m) => m.type === type);
    if (i >= 0) return Promise.resolve(inbox.splice(i, 1)[0]);
    if (failure) return Promise.reject(failure);
    return new Promise((res, rej) => waiting.push({ type, resolve: res, reject: rej }));
  };
  ch.post = (m) => {
    if (ch.connected) ch.send(m);
  };
  return ch;
}

/** One library under one schedule: every outage length, every round. */
async function runLibrary(lib, schedule, opts, log) {
  const rounds = [];
  let broker = await startBrokerChild(opts.port);
  const client = startClient({
    lib,
    port: opts.port,
    queue: `reconnect-bench-${lib}-${schedule.name}`,
    interval: opts.interval,
    reconnect: schedule[lib],
  });
  try {
    await withTimeout(client.next('flowing'), 10_000, `${lib} first messages`);
    for (const outageMs of opts.outages) {
      for (let round = 0; round < opts.rounds; round++) {
        await sleep(STEADY_MS);
        const killAt = await killBroker(broker);
        client.post({ type: 'killed', at: killAt });
        await sleep(outageLength(outageMs, round, opts.rounds, opts.spread));
        broker = await startBrokerChild(opts.port);
        client.post({ type: 'ready', at: broker.readyAt });
        const r = await withTimeout(
          client.next('recovered'),
          RECOVER_TIMEOUT_MS,
          `${lib} recovery after a ${outageMs} ms outage`,
        );
        for (let i = 0; i < 20 && broker.accepts.length === 0; i++) await sleep(5);
        const acceptAt = broker.accepts[0];
        const at = (t) => t - r.readyAt;
        const one = {
          outageMs,
          down: at(killAt) * -1,
          detect: r.disconnectAt - killAt,
          attempts: r.attempts,
          open: at(r.openAt),
          handshake: acceptAt === undefined ? NaN : r.openAt - acceptAt,
          first: at(r.firstAt),
          firstNew: at(r.firstNewAt),
          openToNew: r.firstNewAt - r.openAt,
        };
        rounds.push(one);
        log(
          `  ${lib.padEnd(5)} ${schedule.name} outage ${outageLength(outageMs, round, opts.rounds, opts.spread)} ms round ${round + 1}: down ${one.down.toFixed(0)} ms (listening ${(broker.listeningAt - killAt).toFixed(1)}), detect ${one.detect.toFixed(1)}, ${one.attempts} attempts, accept +${(acceptAt - r.readyAt).toFixed(1)}, open +${one.open.toFixed(1)} ms, first msg +${one.first.toFixed(1)} ms, first new +${one.firstNew.toFixed(1)} ms`,
        );
      }
    }
    await sleep(STEADY_MS);
    client.post({ type: 'finish' });
    const stats = await withTimeout(client.next('stats'), 15_000, `${lib} final counts`);
    const exit = await withTimeout(client.exited, 5_000, `${lib} client exit`);
    if (exit.code !== 0) throw new Error(`${lib} client did not exit cleanly (${exit.signal ?? exit.code})`);
    return { rounds, stats };
  } finally {
    if (client.exitCode === null && client.signalCode === null) {
      client.kill('SIGKILL');
      await client.exited;
    }
    if (broker.exitCode === null && broker.signalCode === null) await killBroker(broker);
  }
}

/**
 * How long round `round` of outage length `outageMs` keeps the broker down: `outageMs` plus up to
 * `spread` of it more, the same for both libraries (a fixed pseudo-random sequence, one value in each
 * rounds-th of the spread). A crashed
 * broker comes back at no particular instant; without the spread, "outage + the broker's start"
 * would meet the backoff schedules at the same phase every round, and a schedule without jitter
 * (rhea's attempts at 100, 300, 700, 1500, 3100 ms...) would hit or miss every round together.
 */
function outageLength(outageMs, round, rounds, spread) {
  let x = (Math.imul(outageMs + 1, 0x9e3779b1) ^ Math.imul(round + 1, 0x85ebca6b)) >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d) >>> 0;
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b) >>> 0;
  // Stratified: round i of n falls in the i-th n-th of the spread, so that few rounds cover it evenly.
  const u = (round + ((x ^ (x >>> 16)) >>> 0) / 2 ** 32) / rounds;
  return Math.round(outageMs * (1 + spread * u));
}

function median(xs) {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}
const max = (xs) => Math.max(...xs);

const ms = (x) => (Number.isNaN(x) ? '-' : x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const ratio = (a, b) => (Number.isNaN(a) || Number.isNaN(b) || b === 0 ? '-' : `${(a / b).toFixed(2)}x`);

/** Prints `rows` (the first is the header) as a table; the first `left` columns are left-aligned. */
function printTable(rows, left) {
  const widths = rows[0].map((_, col) => Math.max(...rows.map((rw) => rw[col].length)));
  const line = (rw) =>
    '| ' +
    rw.map((cell, col) => (col < left ? cell.padEnd(widths[col]) : cell.padStart(widths[col]))).join(' | ') +
    ' |';
  console.log(line(rows[0]));
  console.log(
    '|' + widths.map((w, col) => (col < left ? ':' + '-'.repeat(w + 1) : '-'.repeat(w + 1) + ':')).join('|') + '|',
  );
  for (const rw of rows.slice(1)) console.log(line(rw));
}

/** Per outage length and library: medians and maxima of the rounds. */
function summarize(rounds, outageMs) {
  const rs = rounds.filter((r) => r.outageMs === outageMs);
  const pick = (k) => rs.map((r) => r[k]);
  return {
    n: rs.length,
    down: median(pick('down')),
    detect: median(pick('detect')),
    attempts: median(pick('attempts')),
    attemptsMax: max(pick('attempts')),
    open: median(pick('open')),
    openMax: max(pick('open')),
    handshake: median(pick('handshake')),
    first: median(pick('first')),
    firstMax: max(pick('first')),
    firstNew: median(pick('firstNew')),
    firstNewMax: max(pick('firstNew')),
    openToNew: median(pick('openToNew')),
  };
}

function report(schedule, results, opts) {
  console.log('');
  console.log(`${schedule.title}`);
  console.log(
    `  ms after the broker was reachable again; median / max of ${opts.rounds} round(s); "down" = kill -> reachable;`,
  );
  console.log('  attempts: Quark counts its immediate first attempt at the drop, which rhea does not make');
  const head = [
    'outage',
    'library',
    'down',
    'attempts',
    'open p50 / max',
    'accept->open p50',
    'first msg p50 / max',
    'first new msg p50 / max',
    'open->new p50',
  ];
  const rows = [head];
  const libs = Object.keys(results);
  const label = (o) => (opts.spread > 0 ? `${o}-${Math.round(o * (1 + opts.spread))} ms` : `${o} ms`);
  const sums = {};
  for (const o of opts.outages) {
    for (const lib of libs) {
      const s = (sums[`${lib}/${o}`] = summarize(results[lib].rounds, o));
      if (s.n === 0) continue;
      rows.push([
        label(o),
        lib === 'quark' ? 'Quark' : 'rhea',
        ms(s.down),
        s.attempts === s.attemptsMax ? `${s.attempts}` : `${s.attempts} (max ${s.attemptsMax})`,
        `${ms(s.open)} / ${ms(s.openMax)}`,
        ms(s.handshake),
        `${ms(s.first)} / ${ms(s.firstMax)}`,
        `${ms(s.firstNew)} / ${ms(s.firstNewMax)}`,
        ms(s.openToNew),
      ]);
    }
    const q = sums[`quark/${o}`];
    const h = sums[`rhea/${o}`];
    if (q?.n && h?.n)
      rows.push([
        label(o),
        'Quark/rhea',
        '',
        ratio(q.attempts, h.attempts),
        `${ratio(q.open, h.open)} / ${ratio(q.openMax, h.openMax)}`,
        ratio(q.handshake, h.handshake),
        `${ratio(q.first, h.first)} / ${ratio(q.firstMax, h.firstMax)}`,
        `${ratio(q.firstNew, h.firstNew)} / ${ratio(q.firstNewMax, h.firstNewMax)}`,
        ratio(q.openToNew, h.openToNew),
      ]);
  }
  printTable(rows, 2);
  console.log('');
  const crows = [
    [
      'library',
      'produced',
      'accepted',
      'received',
      'duplicates',
      'lost in crash',
      'lost',
      'unsettled',
      'resent by app',
      'CPU us/msg',
      'peak RSS',
    ],
  ];
  for (const lib of libs) {
    const st = results[lib].stats;
    crows.push([
      lib === 'quark' ? 'Quark' : 'rhea',
      `${st.produced}`,
      `${st.accepted}`,
      `${st.distinct}`,
      `${st.duplicates}`,
      `${st.lostInCrash}`,
      `${st.lost}`,
      `${st.unsettled}`,
      lib === 'rhea' ? `${st.resent}` : '-',
      (st.cpuUs / st.produced).toFixed(1),
      `${(st.maxRssKb / 1024).toFixed(0)} MB`,
    ]);
  }
  if (libs.length === 2) {
    const q = results.quark.stats;
    const h = results.rhea.stats;
    crows.push([
      'Quark/rhea',
      '',
      '',
      '',
      '',
      '',
      '',
      '',
      '',
      ratio(q.cpuUs / q.produced, h.cpuUs / h.produced),
      ratio(q.maxRssKb, h.maxRssKb),
    ]);
  }
  printTable(crows, 1);
}

/** Fails unless `port` on loopback can be listened on now. */
function checkPortFree(port) {
  return new Promise((res, rej) => {
    const s = net.createServer();
    s.once('error', (e) => rej(new Error(`port ${port} on ${HOST} is not free (${e.code}); pass --port=P`)));
    s.listen(port, HOST, () => s.close(res));
  });
}

async function driver() {
  const args = process.argv.slice(2);
  const { flags, quick } = benchFlags(args, [
    'json',
    'rounds',
    'timeout',
    'lib',
    'outages',
    'schedule',
    'spread',
    'interval',
    'port',
  ]);
  const opts = {
    rounds: Number(flags.get('rounds') ?? (quick ? 1 : 4)),
    outages: String(flags.get('outages') ?? (quick ? '200,1000' : '200,1000,3000'))
      .split(',')
      .map(Number),
    interval: Number(flags.get('interval') ?? 2),
    port: Number(flags.get('port') ?? 45672),
    timeoutS: Number(flags.get('timeout') ?? 200),
    spread: Number(flags.get('spread') ?? 0.25),
  };
  const libs = flags.has('lib') ? [flags.get('lib')] : ['quark', 'rhea'];
  const schedules = flags.has('schedule') ? SCHEDULES.filter((sc) => sc.name === flags.get('schedule')) : SCHEDULES;
  const json = flags.has('json');
  if (
    !(opts.rounds >= 1) ||
    !opts.outages.every((o) => o >= 0) ||
    !(opts.interval >= 1) ||
    !(opts.port > 0) ||
    !(opts.spread >= 0) ||
    !libs.every((l) => l === 'quark' || l === 'rhea') ||
    schedules.length === 0
  ) {
    console.error('reconnect bench: bad --rounds, --outages, --interval, --port, --lib --spread or --schedule');
    process.exit(2);
  }

  // Whatever happens, no child outlives the run.
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.on(sig, () => {
      killAll();
      process.exit(130);
    });
  }
  const hardLimit = setTimeout(() => {
    console.error(`reconnect bench: FAILED, still running after ${opts.timeoutS} s (--timeout); every child killed`);
    killAll();
    process.exit(1);
  }, opts.timeoutS * 1000);

  await checkPortFree(opts.port);
  const rheaVersion = require('rhea/package.json').version;
  const log = json ? () => {} : (s) => console.log(s);
  log(
    `Reconnect after a broker crash (SIGKILL), loopback ${HOST}:${opts.port}, embedded Quark broker in a child process; ${process.version}, rhea ${rheaVersion}`,
  );
  log(
    `  one client process per library and schedule: a sender and a receiver (credit ${CREDIT}) on one connection, one message produced every ${opts.interval} ms, each accepted`,
  );
  log(
    `  outages ${opts.outages.join(', ')} ms, each round's up to ${Math.round(opts.spread * 100)}% longer (the same rounds for both libraries); then a new broker is started (~100 ms until it listens); ${opts.rounds} round(s) each; ${quick ? 'QUICK' : 'full'}`,
  );
  log('');

  const all = {};
  const failures = [];
  for (const schedule of schedules) {
    const results = {};
    for (const lib of libs) {
      try {
        results[lib] = await runLibrary(lib, schedule, opts, log);
        const st = results[lib].stats;
        const problems = [];
        if (st.lost > 0)
          problems.push(
            `${st.lost} message(s) accepted after the last crash and never received (e.g. seq ${st.lostSeqs.join(', ')})`,
          );
        if (st.unsettled > 0) problems.push(`${st.unsettled} send(s) never settled`);
        if (st.failed > 0 || st.notAccepted > 0)
          problems.push(`${st.failed} send(s) failed, ${st.notAccepted} not accepted: ${st.errors.join('; ')}`);
        if (problems.length > 0) throw new Error(problems.join('; '));
      } catch (e) {
        failures.push(`${schedule.name}/${lib}: ${e.message}`);
        console.error(`FAILED ${schedule.name}/${lib}: ${e.message}`);
      }
    }
    all[schedule.name] = results;
    if (!json && Object.keys(results).length > 0) report(schedule, results, opts);
  }
  clearTimeout(hardLimit);

  if (json) console.log(JSON.stringify({ quick, ...opts, results: all, failures }));
  else {
    console.log('');
    console.log(
      failures.length === 0
        ? 'verified: every round recovered; every message the broker accepted arrived, except those the crashed broker held (lost in crash); every send settled'
        : `FAILED: ${failures.length} run(s): ${failures.join(' | ')}`,
    );
  }
  if (failures.length > 0) process.exit(1);
}

if (process.argv[2] === BROKER_FLAG) await brokerChild(Number(process.argv[3]));
else if (process.argv[2] === CLIENT_FLAG) await clientChild(JSON.parse(process.argv[3]));
else {
  await driver().catch((e) => {
    console.error(`reconnect bench: FAILED: ${e.message}`);
    killAll();
    process.exit(1);
  });
}
