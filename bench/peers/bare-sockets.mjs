// The floor under the messaging benchmarks: bare Node.js sockets between two processes on
// loopback, no AMQP at all. `measureBareSockets` writes `count` frames of `size` bytes, `batch`
// to a socket write (a fresh buffer per write, as a messaging library hands the socket new bytes
// each time), optionally one write every `paceUs` microseconds (a sender's own work per message),
// to a receiver process that only counts the bytes; it returns the seconds taken and the CPU
// microseconds of each side.
import { fork } from 'node:child_process';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const RECEIVER = '--bare-socket-receiver';

if (process.argv[2] === RECEIVER) {
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
}

/**
 * @param {{ size: number, count: number, batch: number, paceUs?: number }} c
 * @returns {Promise<{ seconds: number, senderCpu: number, receiverCpu: number }>}
 */
export function measureBareSockets({ size, count, batch, paceUs }) {
  const total = size * count;
  const child = fork(fileURLToPath(import.meta.url), [RECEIVER, String(total)]);
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
            if (paceUs !== undefined) {
              const until = performance.now() + paceUs / 1000;
              while (performance.now() < until);
            }
            written += chunk.length;
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
