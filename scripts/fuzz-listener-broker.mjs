// @ts-check
// The broker of scripts/fuzz-listener.mjs, in a process of its own: its memory is measured apart
// from the fuzzer's, and a crash shows as this process exiting. Run by the script with
// `--expose-gc`; the broker's options come as JSON in argv[2] (port 0, on 127.0.0.1).
//
// IPC: { type: 'stats', id, gc } -> { type: 'stats', id, ... } (memory after a full GC when `gc`);
//      { type: 'stop' } -> stops the broker and exits 0.
// Sends { type: 'ready', port } once listening.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { startBroker } from '../dist/esm/index.js';

const options = JSON.parse(process.argv[2] ?? '{}');
const broker = await startBroker({ ...options, host: '127.0.0.1', port: 0 });
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();

/** @param {object} message */
function send(message) {
  if (process.send) process.send(message);
}

process.on('message', (/** @type {{ type: string, id?: number, gc?: boolean }} */ m) => {
  if (m.type === 'stats') {
    if (m.gc) /** @type {() => void} */ (globalThis.gc)();
    const memory = process.memoryUsage();
    const queues = broker.queues();
    send({
      type: 'stats',
      id: m.id,
      rss: memory.rss,
      heapUsed: memory.heapUsed,
      heapTotal: memory.heapTotal,
      external: memory.external,
      arrayBuffers: memory.arrayBuffers,
      connections: broker.connectionCount,
      queues: queues.length,
      depth: queues.reduce((n, q) => n + q.depth, 0),
      inFlight: queues.reduce((n, q) => n + q.inFlight, 0),
      consumers: queues.reduce((n, q) => n + q.consumers, 0),
      deepest: queues.reduce((n, q) => Math.max(n, q.depth), 0),
      // A queue that exists (one the cases made up, the least deep): where a client can still go when no new queue can be made.
      existing: queues
        .filter((q) => /^made-up-\d+$/.test(q.address))
        .reduce(
          (a, q) => (a === undefined || q.depth < a.depth ? { address: q.address, depth: q.depth } : a),
          undefined,
        ),
      storedBytes: broker.storedBytes,
      // The event loop's longest stall since the last report.
      loopDelayMaxMs: loopDelay.max / 1e6,
      cpu: process.cpuUsage(),
    });
    loopDelay.reset();
  } else if (m.type === 'stop') {
    void broker.close().then(() => process.exit(0));
  }
});
// The fuzzer is gone: so is its broker.
process.on('disconnect', () => process.exit(0));
send({ type: 'ready', port: broker.port });
