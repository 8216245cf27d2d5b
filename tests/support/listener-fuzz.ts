/**
 * The wire fuzzer of the listening side, shared by tests/fuzz/listener.fuzz.test.ts (a bounded run
 * in `npm test`) and scripts/fuzz-listener.mjs (a long run against a broker in a child process;
 * the script bundles this module with esbuild, so it is written once, here).
 *
 * A case is a valid client conversation, written in one go without waiting for answers, then
 * mutated: SASL (ANONYMOUS, PLAIN, SCRAM-SHA-256, none, or a mechanism nobody offers), open, one or
 * many sessions, senders with transfers and receivers with flows, to queues, topics and addresses
 * made up on the spot, sometimes ended by detach, end and close.
 *
 * `play()` writes a case on a fresh socket, in one write and nothing more, and judges what the
 * broker did with it:
 * - `closed`: the broker closed the socket.
 * - `established`: the broker sent its open (and no close, nor a failed sasl-outcome, after it);
 *   the connection is open and may stay so, and the client drops it `linger` ms after its write.
 * - `hang`: neither, `giveUp` ms (30 s) after the client's write.
 * The broker owes one of the first two within `deadline` (3 s) of the write: a handshake it did
 * not finish is dropped at `handshakeTimeout` (2 s in {@link FUZZ_BROKER_OPTIONS}), and once it
 * has sent a close or a failed sasl-outcome it ends the socket at once. A verdict after that is
 * `late`: the broker (or the fuzzer) was kept from running for a second or more, as on a loaded
 * machine; a hang is what no load explains (30 s is within the broker's 60 s idle timeout, which
 * would otherwise end a connection it forgot).
 */
import net from 'node:net';
import { ByteWriter } from '../../src/codec/byte-writer.js';
import { AMQP_FRAME_TYPE, ProtocolId, SASL_FRAME_TYPE, protocolHeader, writeFrame } from '../../src/codec/frames.js';
import { encodeMessage } from '../../src/codec/message.js';
import { compositeSpecs, type CompositeSpec } from '../../src/codec/spec-tables.js';
import type { BrokerOptions } from '../../src/server/broker/broker.js';
import type { SeededRandom } from './seeded-random.js';

/** The one user of the fuzzed broker (PLAIN and SCRAM cases log in as it, or try to). */
export const FUZZ_USER = { name: 'user', password: 'pencil' } as const;

/**
 * How the fuzzed broker is started (plus `port: 0`): a user, so that PLAIN and SCRAM are offered
 * and run; ANONYMOUS too; refused logins answered at once; handshakes bounded to 2 s.
 */
export const FUZZ_BROKER_OPTIONS = {
  users: { [FUZZ_USER.name]: FUZZ_USER.password },
  allowAnonymous: true,
  failedLoginDelay: 0,
  handshakeTimeout: 2000,
} as const satisfies BrokerOptions;

/** How a case logs in. */
export type FuzzAuth = 'anonymous' | 'plain' | 'scram' | 'none' | 'unknown';
/** What a case does once open. */
export type FuzzShape = 'send' | 'receive' | 'many' | 'flood';

/** One input: the mutated bytes, and what the conversation was before mutation. */
export interface FuzzCase {
  readonly auth: FuzzAuth;
  readonly shape: FuzzShape;
  readonly bytes: Buffer;
}

/** A receiver's credit: none, a little, a lot, or all there is. */
const CREDITS = [0, 1, 2, 5, 10, 100, 1000, 0xffffffff] as const;

/** An address: one of a few queues, a topic, or one made up (the broker makes a queue on first use). */
function address(random: SeededRandom): string {
  const roll = random.int(10);
  if (roll < 5) return `fuzz-${random.int(20)}`;
  if (roll < 7) return `topic://fuzz-${random.int(5)}`;
  if (roll < 9) return `made-up-${random.int(100_000)}`;
  // Any characters, a few of them multi-byte.
  let s = '';
  for (let i = random.int(40); i > 0; i--)
    s += String.fromCodePoint(random.chance(0.9) ? 0x20 + random.int(0x5f) : 0xa0 + random.int(0x3000));
  return s;
}

/** The SASL layer: the header, sasl-init, and for SCRAM a pipelined sasl-response (none for `none`). */
function writeSasl(w: ByteWriter, random: SeededRandom, auth: FuzzAuth): void {
  if (auth === 'none') return;
  w.bytes(protocolHeader(ProtocolId.Sasl));
  const sasl = (spec: CompositeSpec, fields: object): void => writeFrame(w, SASL_FRAME_TYPE, 0, spec, fields);
  switch (auth) {
    case 'anonymous':
      sasl(
        compositeSpecs.saslInit,
        random.chance(0.8)
          ? { mechanism: 'ANONYMOUS' }
          : {
              mechanism: 'ANONYMOUS',
              initialResponse: Buffer.from(`trace-${random.int(1000)}`),
              hostname: 'localhost',
            },
      );
      return;
    case 'plain': {
      // Mostly the right password (the login succeeds and the conversation goes on), else a wrong one, an authzid, or junk.
      const roll = random.int(10);
      const response =
        roll < 6
          ? `\0${FUZZ_USER.name}\0${FUZZ_USER.password}`
          : roll < 8
            ? `\0${FUZZ_USER.name}\0wrong-${random.int(100)}`
            : roll < 9
              ? `other\0${FUZZ_USER.name}\0${FUZZ_USER.password}`
              : Buffer.from(random.bytes(random.int(40))).toString('latin1');
      sasl(compositeSpecs.saslInit, { mechanism: 'PLAIN', initialResponse: Buffer.from(response, 'latin1') });
      return;
    }
    case 'scram': {
      // The client-first message; the final one cannot be right (the server's nonce is not known
      // yet), so it is plausible (right shape, wrong nonce and proof) or junk.
      const user = random.chance(0.8) ? FUZZ_USER.name : `u${random.int(100)}`;
      sasl(compositeSpecs.saslInit, { mechanism: 'SCRAM-SHA-256', initialResponse: Buffer.from(`n,,n=${user},r=abc`) });
      const final = random.chance(0.5)
        ? `c=biws,r=abc${Buffer.from(random.bytes(18)).toString('base64')},p=${Buffer.from(random.bytes(32)).toString('base64')}`
        : Buffer.from(random.bytes(random.int(80))).toString('latin1');
      sasl(compositeSpecs.saslResponse, { response: Buffer.from(final, 'latin1') });
      return;
    }
    default:
      sasl(compositeSpecs.saslInit, { mechanism: random.pick(['EXTERNAL', 'SCRAM-SHA-1', 'CRAM-MD5', 'X']) });
  }
}

/** A valid client conversation. */
export function conversation(random: SeededRandom): FuzzCase {
  const w = new ByteWriter(4096);
  const authRoll = random.int(100);
  const auth: FuzzAuth =
    authRoll < 50
      ? 'anonymous'
      : authRoll < 60
        ? 'plain'
        : authRoll < 80
          ? 'scram'
          : authRoll < 95
            ? 'none'
            : 'unknown';
  const shapeRoll = random.int(1000);
  const shape: FuzzShape = shapeRoll < 550 ? 'send' : shapeRoll < 850 ? 'receive' : shapeRoll < 997 ? 'many' : 'flood';
  writeSasl(w, random, auth);
  w.bytes(protocolHeader(ProtocolId.Amqp));
  const frame = (channel: number, spec: CompositeSpec, fields: object, payload?: Uint8Array): void =>
    writeFrame(w, AMQP_FRAME_TYPE, channel, spec, fields, payload);
  frame(
    0,
    compositeSpecs.open,
    random.chance(0.8)
      ? { containerId: `fuzz-${random.int(1e9)}` }
      : {
          containerId: `fuzz-${random.int(1e9)}`,
          maxFrameSize: random.pick([512, 4096, 65536]),
          channelMax: random.int(64),
          idleTimeOut: random.pick([0, 1000, 60000]),
        },
  );

  const sessions = shape === 'many' ? 1 + random.int(8) : 1;
  const linksPerSession = shape === 'many' ? 1 + random.int(16) : shape === 'flood' ? 1030 + random.int(20) : 1;
  for (let channel = 0; channel < sessions; channel++) {
    frame(channel, compositeSpecs.begin, {
      nextOutgoingId: 0,
      incomingWindow: random.pick([100, 2048, 0x7fffffff]),
      outgoingWindow: random.pick([100, 2048, 0x7fffffff]),
    });
    let deliveryId = 0;
    for (let handle = 0; handle < linksPerSession; handle++) {
      const receiving = shape === 'receive' || (shape !== 'send' && random.chance(0.5));
      const to = address(random);
      if (receiving) {
        // A receiver (role true: the broker sends), and credit for it.
        const sndSettleMode = random.int(3); // 0 unsettled, 1 settled, 2 mixed
        frame(channel, compositeSpecs.attach, {
          name: `r${handle}`,
          handle,
          role: true,
          sndSettleMode,
          rcvSettleMode: random.int(2),
          source: { kind: 'source', address: to },
          target: { kind: 'target' },
        });
        const credit = random.pick(CREDITS);
        frame(channel, compositeSpecs.flow, {
          nextIncomingId: 0,
          incomingWindow: 2048,
          nextOutgoingId: deliveryId,
          outgoingWindow: 2048,
          handle,
          deliveryCount: 0,
          linkCredit: credit,
          drain: random.chance(0.2),
        });
        if (random.chance(0.5)) {
          // Settles what the broker may have sent already (ids it has not used are the broker's to refuse).
          frame(channel, compositeSpecs.disposition, {
            role: true,
            first: 0,
            last: random.int(20),
            settled: true,
            state: { kind: random.pick(['accepted', 'released'] as const) },
          });
        }
      } else {
        frame(channel, compositeSpecs.attach, {
          name: `s${handle}`,
          handle,
          role: false,
          sndSettleMode: random.int(3),
          source: { kind: 'source' },
          target: { kind: 'target', address: to },
          initialDeliveryCount: 0,
        });
        const transfers = shape === 'flood' ? random.int(2) : 1 + random.int(8);
        for (let i = 0; i < transfers; i++, deliveryId++) {
          frame(
            channel,
            compositeSpecs.transfer,
            {
              handle,
              deliveryId,
              deliveryTag: Buffer.from([deliveryId & 0xff, deliveryId >>> 8]),
              messageFormat: 0,
              settled: random.chance(0.5),
            },
            encodeMessage({ body: random.bytes(random.int(200)) }),
          );
        }
      }
      if (random.chance(0.1)) frame(channel, compositeSpecs.detach, { handle, closed: true });
    }
    if (random.chance(0.1)) frame(channel, compositeSpecs.end, {});
  }
  if (random.chance(0.15)) frame(0, compositeSpecs.close, {});
  return { auth, shape, bytes: Buffer.from(w.toBuffer()) };
}

/** Flips, overwrites, truncates or duplicates a few bytes after the first protocol header. */
export function mutate(random: SeededRandom, input: Buffer): Buffer {
  let b = Buffer.from(input);
  const edits = 1 + random.int(4);
  for (let k = 0; k < edits; k++) {
    const at = 8 + random.int(Math.max(1, b.length - 8));
    switch (random.int(4)) {
      case 0:
        b[at] = random.int(256);
        break;
      case 1:
        b[at] = (b[at] ?? 0) ^ (1 << random.int(8));
        break;
      case 2:
        b = b.subarray(0, at);
        break;
      default:
        b = Buffer.concat([b.subarray(0, at), b.subarray(at - Math.min(at, 16), at), b.subarray(at)]);
    }
  }
  return b;
}

/** The next case of the seeded sequence: a conversation, mutated. */
export function nextCase(random: SeededRandom): FuzzCase {
  const c = conversation(random);
  return { auth: c.auth, shape: c.shape, bytes: mutate(random, c.bytes) };
}

/** How a case ended; see the module comment (`refused`: the socket never connected). */
export type Verdict = 'established' | 'closed' | 'hang' | 'refused';

export interface PlayOptions {
  /** Milliseconds after its write before the client drops an established connection. Default 5. */
  linger?: number;
  /** Milliseconds after its write by which the broker owes its verdict (a later one is `late`). Default 3000. */
  deadline?: number;
  /** Milliseconds after its write (or after the connect began, for the connect) with no verdict that make a hang. Default 30000. */
  giveUp?: number;
  /** Called once the linger is over and the case still waits for the broker (it holds a socket, but no longer a writer's slot). */
  onWaiting?: () => void;
}

/** What the broker had sent: its AMQP open, a close, a failed sasl-outcome, output that is not frames; and whether the socket connected. */
export interface BrokerSaw {
  readonly connected: boolean;
  readonly open: boolean;
  readonly close: boolean;
  readonly saslFailed: boolean;
  readonly garbage: boolean;
  readonly bytes: number;
}

export interface PlayResult {
  readonly verdict: Verdict;
  /** Milliseconds from the client's write to the verdict. */
  readonly ms: number;
  /** The verdict came more than `deadline` ms after the write. */
  readonly late: boolean;
  readonly saw: BrokerSaw;
}

/**
 * Reads the broker's output as protocol headers and frames, as it arrives, noting the frames that
 * matter to the verdict; the rest of each frame is skipped, never buffered.
 */
class BrokerOutput {
  open = false;
  close = false;
  saslFailed = false;
  garbage = false;
  bytes = 0;
  #pending: Buffer = Buffer.alloc(0);
  #skip = 0;

  get established(): boolean {
    return this.open && !this.close && !this.saslFailed;
  }

  push(chunk: Buffer): void {
    this.bytes += chunk.length;
    if (this.garbage) return;
    let c = chunk;
    if (this.#skip > 0) {
      const n = Math.min(this.#skip, c.length);
      this.#skip -= n;
      c = c.subarray(n);
    }
    if (c.length === 0) return;
    let b = this.#pending.length === 0 ? c : Buffer.concat([this.#pending, c]);
    while (b.length >= 8) {
      if (b[0] === 0x41 && b[1] === 0x4d && b[2] === 0x51 && b[3] === 0x50) {
        b = b.subarray(8); // a protocol header ("AMQP" and 4 bytes)
        continue;
      }
      const size = b.readUInt32BE(0);
      const bodyAt = (b[4] ?? 0) * 4;
      if (size < 8 || bodyAt < 8 || bodyAt > size) {
        this.garbage = true;
        return;
      }
      const head = Math.min(size, bodyAt + 16);
      if (b.length < head) break;
      if (size > bodyAt && b[bodyAt] === 0x00) this.#note(b[5] ?? 0, b.subarray(bodyAt + 1, head));
      if (b.length >= size) {
        b = b.subarray(size);
      } else {
        this.#skip = size - b.length;
        b = b.subarray(b.length);
      }
    }
    this.#pending = Buffer.from(b);
  }

  /** `d`: a frame body after its 0x00 (a described performative): the descriptor, then the list. */
  #note(type: number, d: Buffer): void {
    let code: number | undefined;
    let at: number;
    if (d[0] === 0x53) {
      code = d[1];
      at = 2;
    } else if (d[0] === 0x80 && d.length >= 9) {
      code = d.readUInt32BE(5);
      at = 9;
    } else return;
    if (type === SASL_FRAME_TYPE) {
      if (code !== 0x44) return;
      // sasl-outcome: a list whose first field is the code (a ubyte, 0x50 xx).
      const fieldAt = d[at] === 0xc0 ? at + 3 : d[at] === 0xd0 ? at + 9 : -1;
      if (fieldAt < 0 || d[fieldAt] !== 0x50 || d[fieldAt + 1] !== 0) this.saslFailed = true;
    } else if (code === 0x10) this.open = true;
    else if (code === 0x18) this.close = true;
  }
}

/** Writes `bytes` on a fresh socket to 127.0.0.1:`port` in one write, and judges what the broker does with them. */
export function play(port: number, bytes: Uint8Array, options: PlayOptions = {}): Promise<PlayResult> {
  const linger = options.linger ?? 5;
  const deadline = options.deadline ?? 3000;
  const giveUp = options.giveUp ?? 30_000;
  return new Promise((resolve) => {
    const out = new BrokerOutput();
    const socket = net.connect({ host: '127.0.0.1', port });
    let connected = false;
    let writtenAt = 0;
    let lingered = false;
    let verdict: Verdict | undefined;
    let decidedAt = 0;
    let lingerTimer: NodeJS.Timeout | undefined;
    const decide = (v: Verdict): void => {
      if (verdict !== undefined) return;
      verdict = v;
      decidedAt = performance.now();
      clearTimeout(lingerTimer);
      clearTimeout(giveUpTimer);
      if (v !== 'closed' && v !== 'refused') socket.destroy();
    };
    // The hang waits for the I/O of this turn of the event loop (timers run first): a close that
    // arrived while this process was kept from running is a close, not a hang.
    const hang = (): void => void setImmediate(() => decide('hang'));
    // Restarted at the write: the connect has the same time.
    let giveUpTimer = setTimeout(hang, giveUp);
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      out.push(chunk);
      if (lingered && out.established) decide('established');
    });
    // The broker ended the socket (or reset it, or it never connected).
    socket.once('end', () => decide('closed'));
    socket.once('close', () => {
      decide(connected ? 'closed' : 'refused');
      const saw = {
        connected,
        open: out.open,
        close: out.close,
        saslFailed: out.saslFailed,
        garbage: out.garbage,
        bytes: out.bytes,
      };
      const ms = connected ? decidedAt - writtenAt : 0;
      resolve({ verdict: verdict!, ms, late: verdict !== 'hang' && ms > deadline, saw });
    });
    socket.once('connect', () => {
      connected = true;
      socket.write(bytes);
      writtenAt = performance.now();
      clearTimeout(giveUpTimer);
      giveUpTimer = setTimeout(hang, giveUp);
      lingerTimer = setTimeout(() => {
        lingered = true;
        if (out.established) decide('established');
        else options.onWaiting?.();
      }, linger);
    });
  });
}

/** A case that hung or was late, to report and to keep (tests/fuzz/corpus/). */
export interface NotedCase {
  /** Its place in the seeded sequence (0-based, counting from the start of the run). */
  readonly index: number;
  readonly auth: FuzzAuth;
  readonly shape: FuzzShape;
  readonly bytes: Buffer;
  readonly result: PlayResult;
}

export interface RunTotals {
  cases: number;
  established: number;
  closed: number;
  hang: number;
  refused: number;
  /** Verdicts (not hangs) that took longer than the linger plus 100 ms (mostly handshakes left to time out). */
  slow: number;
  /** Verdicts that came after the deadline (3 s). */
  late: number;
  /** The slowest verdict that was not a hang, in ms. */
  slowestMs: number;
  byKind: Record<string, number>;
  /** The first hundred hangs, and the first hundred late verdicts. */
  hanging: NotedCase[];
  lateCases: NotedCase[];
}

export function emptyTotals(): RunTotals {
  return {
    cases: 0,
    established: 0,
    closed: 0,
    hang: 0,
    refused: 0,
    slow: 0,
    late: 0,
    slowestMs: 0,
    byKind: {},
    hanging: [],
    lateCases: [],
  };
}

export interface RunOptions extends Omit<PlayOptions, 'onWaiting'> {
  /** Cases being written (up to their linger) at once. Default 4. */
  concurrency?: number;
  /** Cases written and still waiting for the broker's verdict, at most; they hold a socket each. Default 400. */
  maxWaiting?: number;
  /** The index of the first case (for reports). Default 0. */
  firstIndex?: number;
  /** Called as each case starts, with its index. */
  onStart?: (index: number, c: FuzzCase) => void;
  /** Called after each case, with its index. */
  onCase?: (result: PlayResult, c: FuzzCase, totals: RunTotals, index: number) => void;
  /** Checked before each case starts: true stops the run (it resolves once the cases started have their verdicts). */
  stop?: () => boolean;
}

/**
 * Plays the next `count` cases of `random` against the broker at `port`, `concurrency` being
 * written at once (the cases whose handshakes the broker leaves to time out wait apart, up to
 * `maxWaiting`), and resolves with the totals once every one has its verdict. The inputs depend
 * on the seed only, not on timing.
 */
export function runCases(
  port: number,
  random: SeededRandom,
  count: number,
  options: RunOptions = {},
  totals: RunTotals = emptyTotals(),
): Promise<RunTotals> {
  const concurrency = options.concurrency ?? 4;
  const maxWaiting = options.maxWaiting ?? 400;
  const linger = options.linger ?? 5;
  const firstIndex = options.firstIndex ?? 0;
  return new Promise((resolve) => {
    let limit = count;
    let started = 0;
    let finished = 0;
    let writing = 0;
    let waiting = 0;
    const pump = (): void => {
      if (options.stop?.()) limit = started;
      while (started < limit && writing < concurrency && waiting < maxWaiting) launch(firstIndex + started++);
      if (finished === limit) resolve(totals);
    };
    const launch = (index: number): void => {
      writing++;
      const c = nextCase(random);
      options.onStart?.(index, c);
      let isWaiting = false;
      const onWaiting = (): void => {
        isWaiting = true;
        writing--;
        waiting++;
        pump();
      };
      void play(port, c.bytes, { linger, deadline: options.deadline, giveUp: options.giveUp, onWaiting }).then((r) => {
        if (isWaiting) waiting--;
        else writing--;
        finished++;
        totals.cases++;
        totals[r.verdict]++;
        const kind = `${c.auth}/${c.shape}`;
        totals.byKind[kind] = (totals.byKind[kind] ?? 0) + 1;
        // The first hundred are kept: enough to report, bounded if every case hangs.
        if (r.verdict === 'hang') {
          if (totals.hanging.length < 100)
            totals.hanging.push({ index, auth: c.auth, shape: c.shape, bytes: c.bytes, result: r });
        } else {
          if (r.ms > linger + 100) totals.slow++;
          totals.slowestMs = Math.max(totals.slowestMs, r.ms);
        }
        if (r.late) {
          totals.late++;
          if (totals.lateCases.length < 100)
            totals.lateCases.push({ index, auth: c.auth, shape: c.shape, bytes: c.bytes, result: r });
        }
        options.onCase?.(r, c, totals, index);
        pump();
      });
    };
    pump();
  });
}

export { formatHex, parseHex } from './fuzz-corpus.js';
