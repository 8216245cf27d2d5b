// The floor under every messaging benchmark: bare Node.js sockets between two processes on
// loopback, no AMQP at all. Prints MiB/s and CPU per MiB for 1 MiB writes (scenario (c)'s payload)
// and frames/s and CPU per frame for 150-byte writes batched per turn (scenario (a)'s size), so
// that Quark's and rhea's figures from peer.mjs can be read against what the machine can do; the
// same frames written one per write, one every 15 us (what a rhea sender does: the floor under
// cross-peer.mjs rx-rhea, where a receiver wakes for every frame or two whatever it does); and
// the round-trip latency of 150-byte ping-pongs (scenario (d)'s pattern: one message, wait for the
// answer, next), with the same percentiles peer.mjs reports.
//
// Usage: node bench/sockets.mjs [--quick]
import { fork } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { measureBareSockets } from './peers/bare-sockets.mjs';

const quick = process.argv.includes('--quick') || process.env.QUICK === '1';
const CASES = [
  { name: '1 MiB writes', size: 1 << 20, count: quick ? 100 : 1000, batch: 1 },
  { name: '150 B frames, 500 per write', size: 150, count: quick ? 300_000 : 3_000_000, batch: 500 },
  {
    name: '150 B frames, 1 per write, one every 15 us (a rhea sender)',
    size: 150,
    count: quick ? 20_000 : 100_000,
    batch: 1,
    paceUs: 15,
  },
];

const PINGS = { warmup: 1000, count: quick ? 2000 : 10_000, size: 150 };

if (process.argv[2] === '--echo') {
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    socket.on('data', (chunk) => socket.write(chunk));
    socket.on('close', () => server.close());
  });
  server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
} else {
  console.log(`Bare Node.js sockets between two processes on loopback (${process.version}): the floor under peer.mjs`);
  console.log('| writes | throughput | sender CPU | receiver CPU |');
  console.log('|:--|--:|--:|--:|');
  for (const c of CASES) {
    const r = await measureBareSockets(c);
    const large = c.size >= 1 << 20;
    const unit = large ? 'MiB' : 'frame';
    const rate = large
      ? `${Math.round(c.count / r.seconds)} MiB/s`
      : `${Math.round(c.count / r.seconds).toLocaleString('en-US')} frames/s`;
    const digits = large ? 0 : 3;
    console.log(
      `| ${c.name} | ${rate} | ${(r.senderCpu / c.count).toFixed(digits)} us/${unit} | ${(r.receiverCpu / c.count).toFixed(digits)} us/${unit} |`,
    );
  }
  const l = await pingPong();
  const fmt = (us) => (us >= 1000 ? `${(us / 1000).toFixed(2)} ms` : `${Math.round(us)} us`);
  console.log('');
  console.log(
    `${PINGS.count.toLocaleString('en-US')} ping-pongs of ${PINGS.size} B (write, wait for the echo, next), after ${PINGS.warmup} warm-up:`,
  );
  console.log(
    `  p50 ${fmt(l.p50)}, p99 ${fmt(l.p99)}, p99.9 ${fmt(l.p999)}, max ${fmt(l.max)}; ${l.over1ms} round trips over 1 ms`,
  );
}

/** Round trips of one small write echoed back by another process: the latency floor under peer.mjs (d). */
function pingPong() {
  const child = fork(fileURLToPath(import.meta.url), ['--echo']);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.once('message', ({ port }) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.setNoDelay(true);
        const ping = Buffer.alloc(PINGS.size, 1);
        const total = PINGS.warmup + PINGS.count;
        const latencies = new Float64Array(PINGS.count);
        let done = 0;
        let got = 0;
        let sentAt = 0n;
        const send = () => {
          sentAt = process.hrtime.bigint();
          socket.write(ping);
        };
        socket.on('data', (chunk) => {
          got += chunk.length;
          if (got < PINGS.size) return; // the echo came in pieces: wait for all of it
          got -= PINGS.size;
          if (done >= PINGS.warmup) latencies[done - PINGS.warmup] = Number(process.hrtime.bigint() - sentAt) / 1000;
          if (++done < total) return send();
          socket.end();
          child.kill();
          const sorted = Array.from(latencies).sort((a, b) => a - b);
          const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
          resolve({
            p50: at(0.5),
            p99: at(0.99),
            p999: at(0.999),
            max: sorted[sorted.length - 1],
            over1ms: sorted.filter((x) => x > 1000).length,
          });
        });
        send();
      });
    });
  });
}
