// Many large sends in flight at once: a sender process sends COUNT messages (default 1,000) whose
// body is ONE shared 1 MiB buffer, all at once, to a receiver process that grants credit 100 and
// accepts each: rhea's (credit_window), then Quark's listen(). Quark's sender and rhea's, one
// after the other in one run, each in a fresh process. What a sender holds while its sends wait for credit shows in its peak RSS:
// a copy per waiting send, or the one buffer.
//
// Figures per library (median of the rounds; peak RSS: the largest): msgs/s from the first send
// to the last outcome, sender CPU per message (user+sys), sender peak RSS. Every message is
// checked by the receiver (its message-id is its sequence number, its body the 1 MiB pattern) and
// every outcome by the sender, or the run fails (exit 1).
//
// Usage: node bench/large-in-flight.mjs [--quick] [--rounds=R] [--count=N] [--json]
//   QUARK_DIST=path/to/index.js   load Quark from another build than ../dist/esm/index.js
import { fork } from 'node:child_process';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { guardChild } from './peers/child-guard.mjs';

const require = createRequire(import.meta.url);
const QUARK_URL = process.env.QUARK_DIST
  ? pathToFileURL(resolve(process.env.QUARK_DIST)).href
  : new URL('../dist/esm/index.js', import.meta.url).href;
const MIB = 1024 * 1024;
const CREDIT = 100;
const CHILD = '--large-in-flight-child';
/** The receivers each sender is measured against: rhea's, and Quark's listen() (whose own cost is lower, so the senders' difference shows more). */
const RECEIVERS = ['rhea', 'quark'];

/** The shared body: a pattern the receiver checks at a few places. */
function pattern() {
  const b = Buffer.alloc(MIB);
  for (let i = 0; i < MIB; i += 4096) b.writeUInt32BE(i ^ 0x5a5a5a5a, i);
  return b;
}
const intact = (b) =>
  b.length === MIB &&
  b.readUInt32BE(0) === (0 ^ 0x5a5a5a5a) >>> 0 &&
  b.readUInt32BE(MIB - 4096) === ((MIB - 4096) ^ 0x5a5a5a5a) >>> 0;

if (process.argv[2] === CHILD) {
  const { post } = guardChild();
  const cfg = JSON.parse(process.argv[3]);
  const rhea = require('rhea');
  let count = 0;
  const errors = [];
  const check = (id, body) => {
    if (Number(id) !== count) errors.push(`message ${count}: id ${id}`);
    if (!(body instanceof Uint8Array) || !intact(Buffer.from(body.buffer, body.byteOffset, body.byteLength)))
      errors.push(`message ${count}: body not intact`);
    count++;
    if (count === cfg.count) post({ type: 'received', count, errors: errors.slice(0, 5) });
  };
  if (cfg.role === 'receiver' && cfg.lib === 'rhea') {
    const container = rhea.create_container({ id: 'large-receiver' });
    container.on('message', (ctx) => {
      check(ctx.message.message_id, ctx.message.body?.content ?? ctx.message.body);
      ctx.delivery.accept();
    });
    const server = container.listen({
      host: '127.0.0.1',
      port: 0,
      credit_window: CREDIT,
      autoaccept: false,
      max_frame_size: 262144,
    });
    server.once('listening', () => post({ type: 'ready', port: server.address().port }));
  } else if (cfg.role === 'receiver') {
    const quark = await import(QUARK_URL);
    const listener = await quark.listen({ host: '127.0.0.1', port: 0, sasl: false, maxFrameSize: 262144 });
    post({ type: 'ready', port: listener.port });
    for await (const link of listener) {
      if (link.role !== 'receiver') continue;
      void (async () => {
        for await (const d of link.acceptAsReceiver({ credit: CREDIT })) {
          check(d.message.messageId, d.message.body);
          d.accept();
        }
      })();
    }
  } else {
    const shared = pattern();
    const finish = (start, cpu0, accepted, other) => {
      post({
        type: 'sent',
        ms: Number(process.hrtime.bigint() - start) / 1e6,
        cpuUs: ((c) => c.user + c.system)(process.cpuUsage(cpu0)),
        rssMb: process.resourceUsage().maxRSS / 1024,
        accepted,
        other,
      });
      setTimeout(() => process.exit(0), 200); // the outcome is posted; the connection's close may go unanswered
    };
    if (cfg.lib === 'quark') {
      const quark = await import(QUARK_URL);
      const conn = await quark.connect({
        host: '127.0.0.1',
        port: cfg.port,
        reconnect: false,
        sasl: false,
        maxFrameSize: 262144,
      });
      const sender = await conn.createSender('bench');
      const start = process.hrtime.bigint();
      const cpu0 = process.cpuUsage();
      const outcomes = await Promise.allSettled(
        Array.from({ length: cfg.count }, (_, i) => sender.send({ messageId: i, body: shared })),
      );
      const accepted = outcomes.filter((o) => o.status === 'fulfilled' && o.value?.kind === 'accepted').length;
      await conn.close();
      finish(start, cpu0, accepted, cfg.count - accepted);
    } else {
      const container = rhea.create_container({ id: 'large-sender' });
      const connection = container.connect({
        host: '127.0.0.1',
        port: cfg.port,
        reconnect: false,
        tcp_no_delay: true,
        max_frame_size: 262144,
      });
      const sender = connection.open_sender({ target: { address: 'bench' } });
      await new Promise((res) => sender.once('sender_open', res));
      const start = process.hrtime.bigint();
      const cpu0 = process.cpuUsage();
      let accepted = 0;
      let other = 0;
      const done = () => {
        if (accepted + other === cfg.count) {
          finish(start, cpu0, accepted, other);
          connection.close();
        }
      };
      sender.on('accepted', () => (accepted++, done()));
      for (const e of ['rejected', 'released', 'modified']) sender.on(e, () => (other++, done()));
      // All at once, as Quark's are: rhea queues what its credit does not cover yet.
      for (let i = 0; i < cfg.count; i++) sender.send({ message_id: i, body: rhea.message.data_section(shared) });
    }
  }
} else {
  await main();
}

async function main() {
  const args = process.argv.slice(2);
  const flag = (name) => args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
  const quick = args.includes('--quick');
  const count = Number(flag('count') ?? (quick ? 200 : 1000));
  const rounds = Number(flag('rounds') ?? (quick ? 1 : 3));
  const json = args.includes('--json');
  const self = fileURLToPath(import.meta.url);
  const child = (cfg) => {
    const p = fork(self, [CHILD, JSON.stringify(cfg)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const next = (type) =>
      new Promise((res, rej) => {
        const on = (m) => {
          if (m.type === 'error') rej(new Error(m.message));
          else if (m.type === type) {
            p.off('message', on);
            res(m);
          }
        };
        p.on('message', on);
        p.once('exit', (code) => rej(new Error(`${cfg.role} exited (${code}) before '${type}'`)));
      });
    return { p, next };
  };
  const results = Object.fromEntries(RECEIVERS.flatMap((rx) => ['quark', 'rhea'].map((tx) => [`${tx}>${rx}`, []])));
  const problems = [];
  for (let r = 0; r < rounds; r++) {
    for (const receiver of RECEIVERS) {
      for (const lib of r % 2 === 0 ? ['quark', 'rhea'] : ['rhea', 'quark']) {
        const rx = child({ role: 'receiver', lib: receiver, count });
        const { port } = await rx.next('ready');
        const tx = child({ role: 'sender', lib, port, count });
        const [sent, received] = await Promise.all([tx.next('sent'), rx.next('received')]);
        rx.p.kill();
        if (sent.accepted !== count) problems.push(`${lib} into ${receiver}: ${sent.accepted} of ${count} accepted`);
        if (received.errors.length > 0) problems.push(`${lib} into ${receiver}: ${received.errors.join('; ')}`);
        results[`${lib}>${receiver}`].push({
          msgsPerSec: count / (sent.ms / 1000),
          cpuUs: sent.cpuUs / count,
          rssMb: sent.rssMb,
        });
      }
    }
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const summary = Object.fromEntries(
    Object.entries(results).map(([lib, rs]) => [
      lib,
      {
        msgsPerSec: median(rs.map((r) => r.msgsPerSec)),
        cpuUs: median(rs.map((r) => r.cpuUs)),
        rssMb: Math.max(...rs.map((r) => r.rssMb)),
      },
    ]),
  );
  if (json) console.log(JSON.stringify({ count, rounds, credit: CREDIT, summary, problems }));
  else {
    console.log(
      `${count.toLocaleString('en-US')} sends of one shared 1 MiB buffer, all at once, into a receiver granting credit ${CREDIT}; ${rounds} round(s); ${process.version}, rhea ${require('rhea/package.json').version}`,
    );
    for (const receiver of RECEIVERS) {
      console.log(`\ninto a ${receiver === 'quark' ? 'Quark (listen())' : 'rhea'} receiver:`);
      console.log('| sender | msgs/s | sender CPU per message | sender peak RSS |');
      console.log('|:--|--:|--:|--:|');
      for (const lib of ['quark', 'rhea']) {
        const s = summary[`${lib}>${receiver}`];
        console.log(
          `| ${lib === 'quark' ? 'Quark' : 'rhea'} | ${s.msgsPerSec.toFixed(0)} | ${(s.cpuUs / 1000).toFixed(2)} ms | ${s.rssMb.toFixed(0)} MB |`,
        );
      }
      const q = summary[`quark>${receiver}`];
      const h = summary[`rhea>${receiver}`];
      console.log(
        `| Quark/rhea | ${(q.msgsPerSec / h.msgsPerSec).toFixed(2)}x | ${(q.cpuUs / h.cpuUs).toFixed(2)}x | ${(q.rssMb / h.rssMb).toFixed(2)}x |`,
      );
    }
    if (problems.length === 0)
      console.log('verified: every message arrived once, in order, intact; every send accepted');
  }
  if (problems.length > 0) {
    console.error(`FAILED: ${problems.join('; ')}`);
    process.exit(1);
  }
}
