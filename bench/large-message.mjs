// One large message between two processes, Quark and rhea side by side: Quark streams the body
// (the sender reads a chunk only once the one before is written; the receiver, with
// `streaming: true`, takes the body as it arrives and the session holds the window while it is
// behind), rhea sends and receives the message whole. Prints each side's peak RSS, the time, and
// checks the bytes (SHA-256 of the body on both sides).
//
//   node bench/large-message.mjs [MiB=1024] [--rhea-mib N (default: the same)] [--skip-rhea]
import { fork } from 'node:child_process';
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setInterval, clearInterval } from 'node:timers';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const MIB = 1024 * 1024;
const size = Number(args.find((a) => /^\d+$/.test(a)) ?? 1024);
const rheaAt = args.indexOf('--rhea-mib');
const rheaSize = rheaAt >= 0 ? Number(args[rheaAt + 1]) : size;
const self = fileURLToPath(import.meta.url);

/** The body, chunk by chunk: chunk i is filled with i (so both ends can hash the same bytes without holding them). */
function* chunkBytes(total) {
  for (let i = 0; i < total; i++) yield new Uint8Array(MIB).fill(i & 0xff);
}
function expectedHash(total) {
  const h = createHash('sha256');
  for (const c of chunkBytes(total)) h.update(c);
  return h.digest('hex');
}

function peakRss() {
  let peak = process.memoryUsage().rss;
  const t = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
  return () => {
    clearInterval(t);
    return Math.max(peak, process.memoryUsage().rss);
  };
}

if (process.argv[2] === '--receiver') {
  const lib = process.argv[3];
  const stop = peakRss();
  const h = createHash('sha256');
  let bytes = 0;
  const done = () => process.send({ bytes, hash: h.digest('hex'), peak: stop() });
  if (lib === 'quark') {
    const { listen } = await import('../dist/esm/index.js');
    const l = await listen({ port: 0 });
    process.send({ port: l.port });
    for await (const link of l) {
      const r = link.acceptAsReceiver({ credit: 1, streaming: true });
      const d = await r.receive();
      for await (const c of d.stream()) {
        h.update(c);
        bytes += c.length;
      }
      d.accept();
      done();
    }
  } else {
    const rhea = (await import('rhea')).default;
    const c = rhea.create_container();
    c.on('message', (ctx) => {
      const body = ctx.message.body;
      const b = body?.content ?? body;
      h.update(b);
      bytes += b.length;
      ctx.delivery.accept();
      done();
    });
    const server = c.listen({ port: 0, host: '127.0.0.1' });
    server.on('listening', () => process.send({ port: server.address().port }));
  }
} else {
  const run = async (lib, total) => {
    const child = fork(self, ['--receiver', lib], { stdio: 'inherit' });
    const port = await new Promise((r) => child.once('message', (m) => r(m.port)));
    const result = new Promise((r) => child.on('message', (m) => m.bytes !== undefined && r(m)));
    const stop = peakRss();
    const t0 = performance.now();
    if (lib === 'quark') {
      const { connect } = await import('../dist/esm/index.js');
      const conn = await connect(`amqp://127.0.0.1:${port}`);
      const sender = await conn.createSender('large');
      async function* body() {
        yield* chunkBytes(total);
      }
      await sender.send({ body: body() });
      await conn.close();
    } else {
      const rhea = (await import('rhea')).default;
      const whole = Buffer.concat([...chunkBytes(total)]);
      await new Promise((resolve, reject) => {
        const c = rhea.create_container();
        const conn = c.connect({ host: '127.0.0.1', port, reconnect: false });
        const s = conn.open_sender('large');
        s.once('sendable', () => s.send({ body: rhea.message.data_section(whole) }));
        s.on('accepted', () => {
          conn.close();
          resolve();
        });
        conn.on('disconnected', (ctx) => ctx.error && reject(ctx.error));
      });
    }
    const r = await result;
    const seconds = (performance.now() - t0) / 1000;
    const senderPeak = stop();
    child.kill();
    const ok = r.bytes === total * MIB && r.hash === expectedHash(total);
    return { lib, total, seconds, senderPeak: senderPeak / MIB, receiverPeak: r.peak / MIB, ok };
  };
  const rows = [await run('quark', size)];
  if (!args.includes('--skip-rhea')) {
    try {
      rows.push(await run('rhea', rheaSize));
    } catch (e) {
      console.log(`rhea could not carry ${rheaSize} MiB: ${e.message}`);
    }
  }
  console.log(`One message between two processes (Node.js ${process.version}); peak RSS of each process`);
  console.log('| library | message | time | MiB/s | sender peak RSS | receiver peak RSS | bytes checked |');
  console.log('|:--|--:|--:|--:|--:|--:|:--|');
  for (const r of rows) {
    console.log(
      `| ${r.lib} | ${r.total} MiB | ${r.seconds.toFixed(1)} s | ${Math.round(r.total / r.seconds)} | ${r.senderPeak.toFixed(0)} MB | ${r.receiverPeak.toFixed(0)} MB | ${r.ok ? 'yes' : 'NO'} |`,
    );
  }
  if (rows.some((r) => !r.ok)) process.exit(1);
}
