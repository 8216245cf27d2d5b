// The floor under every messaging benchmark: bare Node.js sockets between two processes on
// loopback, no AMQP at all. Prints MiB/s and CPU per MiB for 1 MiB writes (scenario (c)'s payload)
// and frames/s and CPU per frame for 150-byte writes batched per turn (scenario (a)'s size), so
// that Quark's and rhea's figures from peer.mjs can be read against what the machine can do.
//
// Usage: node bench/sockets.mjs [--quick]
import { fork } from 'node:child_process';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const quick = process.argv.includes('--quick') || process.env.QUICK === '1';
const CASES = [
  { name: '1 MiB writes', size: 1 << 20, count: quick ? 100 : 1000, batch: 1 },
  { name: '150 B frames, 500 per write', size: 150, count: quick ? 300_000 : 3_000_000, batch: 500 },
];

if (process.argv[2] === '--receiver') {
  const expected = Number(process.argv[3]);
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    let got = 0;
    let startCpu;
    socket.on('data', (chunk) => {
      startCpu ??= process.cpuUsage();
      got += chunk.length;
      if (got >= expected) {
        process.send({ cpu: process.cpuUsage(startCpu) });
        socket.end();
        server.close();
      }
    });
  });
  server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
} else {
  console.log(`Bare Node.js sockets between two processes on loopback (${process.version}): the floor under peer.mjs`);
  console.log('| writes | throughput | sender CPU | receiver CPU |');
  console.log('|:--|--:|--:|--:|');
  for (const c of CASES) {
    const r = await run(c);
    const large = c.size >= 1 << 20;
    const unit = large ? 'MiB' : 'frame';
    const rate = large ? `${Math.round(c.count / r.seconds)} MiB/s` : `${Math.round(c.count / r.seconds).toLocaleString('en-US')} frames/s`;
    const digits = large ? 0 : 3;
    console.log(`| ${c.name} | ${rate} | ${(r.senderCpu / c.count).toFixed(digits)} us/${unit} | ${(r.receiverCpu / c.count).toFixed(digits)} us/${unit} |`);
  }
}

function run({ size, count, batch }) {
  const total = size * count;
  const child = fork(fileURLToPath(import.meta.url), ['--receiver', String(total)]);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.once('message', ({ port }) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.setNoDelay(true);
        const chunk = Buffer.alloc(size * batch, 1);
        const startCpu = process.cpuUsage();
        const start = performance.now();
        let written = 0;
        const pump = () => {
          while (written < total) {
            written += chunk.length;
            // A fresh buffer per write, as a messaging library hands the socket new bytes each time.
            if (!socket.write(Buffer.from(chunk))) return void socket.once('drain', pump);
          }
          socket.end();
        };
        child.once('message', ({ cpu }) => {
          const seconds = (performance.now() - start) / 1000;
          const mine = process.cpuUsage(startCpu);
          child.kill();
          resolve({ seconds, senderCpu: mine.user + mine.system, receiverCpu: cpu.user + cpu.system });
        });
        pump();
      });
    });
  });
}
