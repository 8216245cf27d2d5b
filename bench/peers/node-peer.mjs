// One Node.js peer process of bench/cross-peer.mjs: a Quark or rhea sender or receiver that either
// connects (to a listening peer or a broker) or listens (for a connecting peer), driven by the
// bench over IPC. Forked with `--require ./socket-count.cjs` (socket reads and writes).
//
//   node node-peer.mjs '<json config>'
//   config: { role: 'sender'|'receiver', lib: 'quark'|'rhea', mode: 'connect'|'listen',
//             port (connect), address, credit (receiver), cap (Quark sender: most sends unresolved),
//             size (message bytes), shape ('binary': the sequence number in the first 4 bytes, a
//             check byte last | 'proton-map': Proton's send.c maps {"sequence": i}, i from 1),
//             username, password (connect, SASL PLAIN), maxFrameSize,
//             settled (rhea sender: sends pre-settled; each counts as settled when sent),
//             burst (rhea sender: sends at most this many per turn of the event loop) }
//
// Messages from the bench:
//   phase {n, measure, address}  connect: attach a link to `address` (default: the config's) and
//                       move n messages over it, then
//                       detach it; listen: the next link a peer attaches moves n messages. With
//                       measure, CPU, socket counters are taken from here. Answers `armed` at once,
//                       `attached` (connect) once the link is up, `phase-done` after n messages
//                       (receiver: n received and accepted; sender: n settled) with the times
//                       (process.hrtime, CLOCK_MONOTONIC ns) and any errors
//   stats               answers `stats`: CPU us (user+sys, and sys alone) and socket counters since the measured
//                       phase began, peak RSS of the process
//   progress            answers `progress` (a line of text: where it got to)
//   exit                closes and exits
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { setImmediate } from 'node:timers';
import { pathToFileURL } from 'node:url';
import { guardChild } from './child-guard.mjs';

const require = createRequire(import.meta.url);
const QUARK_URL = process.env.QUARK_DIST
  ? pathToFileURL(resolve(process.env.QUARK_DIST)).href
  : new URL('../../dist/esm/index.js', import.meta.url).href;
const cfg = JSON.parse(process.argv[2]);

const { post, fail } = guardChild();
if ((cfg.settled || cfg.burst !== undefined) && (cfg.lib !== 'rhea' || cfg.role !== 'sender'))
  throw new Error(`node-peer: settled and burst are for a rhea sender only, not a ${cfg.lib} ${cfg.role}`);

const now = () => process.hrtime.bigint();
const sockStats = () => ({ ...(globalThis.__quarkBenchSocketStats ?? {}) });
const sockDelta = (a, b) => Object.fromEntries(Object.keys(b).map((k) => [k, b[k] - (a[k] ?? 0)]));

/** The check byte written in the last byte of binary message `seq`. */
const checkByte = (seq) => (seq * 31 + 7) & 0xff;
const template = Buffer.alloc(cfg.size ?? 100, 0x61);
/** The body of binary message `seq` (the template is reused: both libraries copy a body under 64 KiB when they encode it; the scenarios here send 100 bytes). */
const body = (seq) => {
  template.writeUInt32BE(seq, 0);
  template[template.length - 1] = checkByte(seq);
  return template;
};

let measureFrom; // { cpu, sock } at the start of the measured phase
let current; // the phase in progress or armed (connect: in progress; listen: waiting for its link)
const armed = []; // listen: phases waiting for their link, in order

/** A phase: n messages over one link, its counts, times and errors. */
function newPhase(n) {
  return {
    n,
    count: 0,
    settled: 0,
    accepted: 0,
    other: 0,
    errors: [],
    tAttach: undefined,
    tFirst: undefined,
    tLast: undefined,
    reported: false,
  };
}
const error = (ph, e) => {
  if (ph.errors.length < 10) ph.errors.push(e);
};
const report = (ph) => {
  if (ph.reported) return;
  ph.reported = true;
  post({
    type: 'phase-done',
    n: ph.n,
    count: ph.count,
    settled: ph.settled,
    accepted: ph.accepted,
    other: ph.other,
    errors: ph.errors,
    tAttach: String(ph.tAttach),
    tFirst: String(ph.tFirst),
    tLast: String(ph.tLast),
  });
};

/** Checks one received message body (counts it); reports the phase when n have arrived. */
function onMessage(ph, b) {
  const i = ph.count;
  if (cfg.shape === 'proton-map') {
    const seq = b instanceof Map ? b.get('sequence') : b?.sequence;
    if (seq !== i + 1) error(ph, `message ${i}: sequence ${seq}, expected ${i + 1} (lost, duplicated or reordered)`);
  } else {
    const bytes = b?.content ?? b; // rhea: a data section { content }
    if (!(bytes instanceof Uint8Array) || bytes.length !== template.length)
      error(ph, `message ${i}: body of ${bytes?.length} bytes, expected ${template.length}`);
    else {
      const got = ((bytes[0] << 24) >>> 0) + (bytes[1] << 16) + (bytes[2] << 8) + bytes[3];
      if (got !== i) error(ph, `message ${i}: carries sequence number ${got} (lost, duplicated or reordered)`);
      if (bytes[bytes.length - 1] !== checkByte(i)) error(ph, `message ${i}: wrong check byte`);
    }
  }
  ph.count++;
  if (ph.count === 1) ph.tFirst = now();
  if (ph.count === ph.n) {
    ph.tLast = now();
    ph.settled = ph.accepted = ph.count;
  } else if (ph.count > ph.n) error(ph, `message ${i}: more than the ${ph.n} expected`);
}

/** Counts one outcome of a sent message; true once n are settled. */
function onOutcome(ph, accepted) {
  ph.settled++;
  if (accepted) ph.accepted++;
  else ph.other++;
  if (ph.settled === ph.n) {
    ph.tLast = now();
    return true;
  }
  return false;
}

const commands = {};
process.on('message', (m) => {
  const h = commands[m.type];
  if (!h) return fail(new Error(`unknown command ${m.type}`));
  Promise.resolve(h(m)).catch(fail);
});
commands.stats = () => {
  const cpu = process.cpuUsage(measureFrom?.cpu);
  post({
    type: 'stats',
    cpuUs: cpu.user + cpu.system,
    sysUs: cpu.system,
    maxRssKb: process.resourceUsage().maxRSS,
    sock: sockDelta(measureFrom?.sock ?? {}, sockStats()),
  });
};
commands.progress = () => {
  const ph = current ?? armed[0];
  post({
    type: 'progress',
    text: ph
      ? `phase of ${ph.n}: ${cfg.role === 'receiver' ? `received ${ph.count}` : `settled ${ph.settled} (${ph.other} not accepted)`}${ph.errors.length ? `; errors: ${ph.errors.join('; ')}` : ''}`
      : 'idle',
  });
};
let closeAll = async () => {};
commands.exit = async () => {
  // A close that hangs must not keep the process: exit anyway after a grace period.
  setTimeout(() => process.exit(3), 5000).unref();
  await closeAll();
  process.exit(0);
};
/** phase: arm it (listen) or run it (connect); `run(ph)` runs a connect-mode phase. */
const onPhase = (run) => (m) => {
  if (m.measure) measureFrom = { cpu: process.cpuUsage(), sock: sockStats() };
  const ph = newPhase(m.n);
  ph.address = m.address ?? cfg.address;
  if (cfg.mode === 'listen') armed.push(ph);
  post({ type: 'armed' });
  if (cfg.mode === 'connect') {
    current = ph;
    return run(ph);
  }
};
/** The phase of a link a peer just attached (listen), or undefined (unexpected: an error). */
const nextArmed = () => {
  const ph = armed.shift();
  if (!ph) fail(new Error(`${cfg.lib} ${cfg.role}: a link was attached with no phase armed`));
  current = ph;
  if (ph) ph.tAttach = now();
  return ph;
};

if (cfg.lib === 'quark') await quarkPeer();
else await rheaPeer();

// =====================================================================================
// Quark
// =====================================================================================

async function quarkPeer() {
  const quark = await import(QUARK_URL);

  /** Takes the messages of one receiver link until n arrived (connect: then detaches it). */
  const consume = async (receiver, ph) => {
    try {
      for await (const d of receiver) {
        onMessage(ph, d.message.body);
        d.accept();
        if (ph.count === ph.n) {
          report(ph);
          if (cfg.mode === 'connect') break;
        }
      }
    } catch (e) {
      // A peer that closes after the last message (Proton's send.c) ends the loop with an error.
      if (ph.count < ph.n) error(ph, `receiver: ${e.message}`);
    }
    if (cfg.mode === 'connect') await receiver.close();
    else if (ph.count < ph.n) report(ph);
  };

  /** Sends n binary messages, keeping at most cfg.cap unresolved; resolves once all are settled. */
  const produce = (sender, ph) =>
    new Promise((res) => {
      let next = 0;
      let outstanding = 0;
      const onSettled = (r) => {
        outstanding--;
        if (onOutcome(ph, r?.kind === 'accepted')) res();
        else pump();
      };
      const onError = (e) => {
        error(ph, `send: ${e.message}`);
        outstanding--;
        if (onOutcome(ph, false)) res();
      };
      const pump = () => {
        while (outstanding < cfg.cap && next < ph.n) {
          outstanding++;
          if (next === 0) ph.tFirst = now();
          sender.send({ body: body(next++) }).then(onSettled, onError);
        }
      };
      pump();
    });

  if (cfg.mode === 'connect') {
    const options = { host: '127.0.0.1', port: cfg.port, maxFrameSize: cfg.maxFrameSize };
    if (cfg.username !== undefined) Object.assign(options, { username: cfg.username, password: cfg.password });
    const connection = await quark.connect(options);
    closeAll = () => connection.close();
    commands.phase = onPhase(async (ph) => {
      ph.tAttach = now();
      if (cfg.role === 'receiver') {
        const receiver = await connection.createReceiver({ source: ph.address, credit: cfg.credit });
        post({ type: 'attached' });
        await consume(receiver, ph);
      } else {
        const sender = await connection.createSender({ target: ph.address });
        post({ type: 'attached' });
        await produce(sender, ph);
        await sender.close();
        report(ph);
      }
    });
    post({ type: 'ready' });
    return;
  }

  // Listen: every link a peer attaches takes the next armed phase. Clients without SASL (Proton's
  // examples) are let in.
  const listener = await quark.listen({
    host: '127.0.0.1',
    port: 0,
    allowNoSasl: true,
    maxFrameSize: cfg.maxFrameSize,
  });
  closeAll = () => listener.close();
  commands.phase = onPhase();
  void (async () => {
    for await (const link of listener) {
      const ph = nextArmed();
      if (!ph) return;
      if (cfg.role === 'receiver') void consume(link.acceptAsReceiver({ credit: cfg.credit }), ph);
      else {
        const sender = link.acceptAsSender();
        void produce(sender, ph).then(() => report(ph));
      }
    }
  })();
  post({ type: 'ready', port: listener.port });
}

// =====================================================================================
// rhea
// =====================================================================================

async function rheaPeer() {
  const rhea = require('rhea');
  const container = rhea.create_container();
  const section = rhea.message.data_section;
  const options = { tcp_no_delay: true, max_frame_size: cfg.maxFrameSize };
  let closing = false;

  /** Wires a receiver link to phase ph: checks and accepts each message. */
  const wireReceiver = (receiver, ph) => {
    receiver.on('message', (ctx) => {
      onMessage(ph, ctx.message.body);
      ctx.delivery.accept();
      if (ph.count === ph.n) {
        report(ph);
        if (cfg.mode === 'connect') receiver.close();
      }
    });
  };

  /**
   * Wires a sender link to phase ph: sends n binary messages while sendable(), counts outcomes.
   * A link the peer attached (listen) waits one turn: rhea writes its own attach on a later tick
   * but a transfer at once, so a transfer sent from the peer's first flow would precede our
   * attach (the peer then closes the connection: transfer on an unattached handle).
   */
  const wireSender = (sender, ph, done) => {
    let next = 0;
    let ready = cfg.mode === 'connect';
    if (!ready) {
      setImmediate(() => {
        ready = true;
        pump();
      });
    }
    // Pre-settled: rhea settles what it sends when its link's snd-settle-mode is settled (set
    // before its attach goes out, a turn from now).
    if (cfg.settled) sender.local.attach.snd_settle_mode = 1;
    let burstScheduled = false;
    const pump = () => {
      let sentThisTurn = 0;
      while (ready && next < ph.n && sender.sendable()) {
        if (cfg.burst !== undefined && sentThisTurn++ === cfg.burst) {
          if (!burstScheduled) {
            burstScheduled = true;
            setImmediate(() => {
              burstScheduled = false;
              pump();
            });
          }
          return;
        }
        if (next === 0) ph.tFirst = now();
        sender.send({ body: section(body(next++)) });
        if (cfg.settled) settled(true);
      }
    };
    const settled = (accepted) => {
      if (onOutcome(ph, accepted)) done();
    };
    sender.on('sendable', pump);
    sender.on('accepted', () => settled(true));
    for (const ev of ['rejected', 'released', 'modified']) sender.on(ev, () => settled(false));
    pump();
  };

  container.on('error', (ctx) => fail(new Error(`rhea error: ${JSON.stringify(ctx.error ?? ctx.connection?.error)}`)));

  if (cfg.mode === 'connect') {
    const connection = container.connect({
      host: '127.0.0.1',
      port: cfg.port,
      reconnect: false,
      ...options,
      ...(cfg.username !== undefined ? { username: cfg.username, password: cfg.password } : {}),
    });
    container.on('disconnected', (ctx) => {
      if (!closing) fail(ctx.error ?? new Error('rhea: disconnected'));
    });
    await new Promise((res, rej) => {
      connection.once('connection_open', res);
      connection.once('connection_error', (ctx) => rej(ctx.connection.error ?? new Error('connection error')));
    });
    closeAll = () =>
      new Promise((res) => {
        closing = true;
        connection.once('connection_close', res);
        connection.once('disconnected', res);
        connection.close();
      });
    commands.phase = onPhase(async (ph) => {
      ph.tAttach = now();
      if (cfg.role === 'receiver') {
        const receiver = connection.open_receiver({
          source: { address: ph.address },
          credit_window: cfg.credit,
          autoaccept: false,
        });
        wireReceiver(receiver, ph);
        receiver.once('receiver_open', () => post({ type: 'attached' }));
      } else {
        const sender = connection.open_sender({ target: { address: ph.address } });
        sender.once('sender_open', () => post({ type: 'attached' }));
        await new Promise((res) => wireSender(sender, ph, res));
        sender.close();
        report(ph);
      }
    });
    post({ type: 'ready' });
    return;
  }

  // Listen.
  const connections = new Set();
  container.on('connection_open', (ctx) => connections.add(ctx.connection));
  container.on('disconnected', (ctx) => connections.delete(ctx.connection));
  if (cfg.role === 'receiver') {
    container.on('receiver_open', (ctx) => {
      const ph = nextArmed();
      if (ph) wireReceiver(ctx.receiver, ph);
    });
  } else {
    container.on('sender_open', (ctx) => {
      const ph = nextArmed();
      if (ph) wireSender(ctx.sender, ph, () => report(ph));
    });
  }
  const server = container.listen({
    host: '127.0.0.1',
    port: 0,
    ...options,
    credit_window: cfg.credit,
    autoaccept: false,
  });
  await new Promise((res, rej) => {
    server.once('listening', res);
    server.once('error', rej);
  });
  closeAll = async () => {
    for (const c of connections) c.close();
    await new Promise((res) => server.close(res));
  };
  commands.phase = onPhase();
  post({ type: 'ready', port: server.address().port });
}
