// An AMQP 1.0 login check for the RabbitMQ test nodes of scripts/rabbitmq.sh and
// scripts/rabbitmq-cluster.sh (plain Node.js, no dependencies: it runs before anything is built).
//
//   node scripts/rabbitmq-probe.mjs PORT [WAIT_SECONDS [PID_FILE]]
//
// One try: SASL PLAIN as guest, then open; success is the broker's open (so the AMQP 1.0 plugin is
// running, not just the listener), then our close. With WAIT_SECONDS it tries again every 100 ms
// until a login works or the time is up, in this one process (a new `node` every 100 ms would take
// a good share of a small machine's CPU while the broker boots). With PID_FILE it gives up at once
// when the process named there has died (a boot that crashed), once that file has a live pid.
//
// Exit status: 0 logged in, 1 no login (in time), 2 the node's process died, 64 bad arguments.
import net from 'node:net';
import { readFileSync } from 'node:fs';

const [portArg, waitArg = '0', pidFile] = process.argv.slice(2);
const port = Number(portArg);
const wait = Number(waitArg);
if (!Number.isInteger(port) || port <= 0 || port > 65535 || !Number.isFinite(wait) || wait < 0) {
  console.error('usage: node rabbitmq-probe.mjs PORT [WAIT_SECONDS [PID_FILE]]');
  process.exit(64);
}

const frame = (body, type) => {
  const h = Buffer.alloc(8);
  h.writeUInt32BE(8 + body.length, 0);
  h[4] = 2;
  h[5] = type;
  return Buffer.concat([h, body]);
};
const str = (s) => {
  const b = Buffer.from(s);
  return Buffer.concat([Buffer.from([0xa1, b.length]), b]);
};
const list = (code, items) => {
  const body = Buffer.concat(items);
  return Buffer.concat([Buffer.from([0x00, 0x53, code, 0xc0, body.length + 1, items.length]), body]);
};
const SASL_HEADER = 'AMQP\x03\x01\x00\x00';
const AMQP_HEADER = 'AMQP\x00\x01\x00\x00';
const saslInit = list(0x41, [
  Buffer.from([0xa3, 5]),
  Buffer.from('PLAIN'),
  Buffer.from([0xa0, 12]),
  Buffer.from('\0guest\0guest'),
]);
const open = list(0x10, [str('quark-rabbitmq-probe')]);
const close = list(0x18, []);

/** One login attempt: resolves true when the broker answered our open with its own. */
function tryLogin() {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let buf = Buffer.alloc(0);
    let stage = 0; // 0 SASL header, 1 SASL frames, 2 AMQP header, 3 AMQP frames, 4 closing
    let settled = false;
    const done = (ok) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), 3000);
    sock.on('error', () => done(false));
    sock.on('close', () => done(false));
    sock.on('connect', () => sock.write(Buffer.from(SASL_HEADER, 'latin1')));
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (!settled) {
        if (stage === 0 || stage === 2) {
          if (buf.length < 8) return;
          if (buf.subarray(0, 8).toString('latin1') !== (stage === 0 ? SASL_HEADER : AMQP_HEADER)) return done(false);
          buf = buf.subarray(8);
          stage++;
          continue;
        }
        if (buf.length < 8) return;
        const size = buf.readUInt32BE(0);
        if (buf.length < size) return;
        const body = buf.subarray(buf[4] * 4, size);
        buf = buf.subarray(size);
        if (body.length < 3) continue; // an empty (heartbeat) frame
        const code = body[2];
        if (stage === 1 && code === 0x40) {
          sock.write(frame(saslInit, 1)); // sasl-mechanisms: answer with PLAIN
        } else if (stage === 1 && code === 0x44) {
          const at = body[3] === 0xc0 ? 6 : 12; // sasl-outcome (list8 or list32): its first field is the code
          if (body[at] !== 0x50 || body[at + 1] !== 0) return done(false);
          sock.write(Buffer.concat([Buffer.from(AMQP_HEADER, 'latin1'), frame(open, 0)]));
          stage = 2;
        } else if (stage === 3 && code === 0x10) {
          sock.write(frame(close, 0)); // the broker's open: logged in
          stage = 4;
        } else if (code === 0x18) {
          return done(stage === 4); // the broker's close: the answer to ours, or a refusal
        }
      }
    });
  });
}

function processDied() {
  if (pidFile === undefined) return false;
  let pid;
  try {
    pid = Number(readFileSync(pidFile, 'latin1').replace(/[^0-9]/g, ''));
  } catch {
    return false; // not written yet
  }
  if (!pid) return false;
  try {
    // A zombie (killed, not yet reaped) counts as dead.
    return readFileSync(`/proc/${pid}/stat`, 'latin1')
      .replace(/^.*\) /, '')
      .startsWith('Z');
  } catch {
    return true;
  }
}

const deadline = Date.now() + wait * 1000;
for (;;) {
  if (await tryLogin()) process.exit(0);
  if (processDied()) process.exit(2);
  if (Date.now() >= deadline) process.exit(1);
  await new Promise((r) => setTimeout(r, 100));
}
