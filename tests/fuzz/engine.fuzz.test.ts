/**
 * The protocol engine faces bytes from the network. Random and mutated frame streams (valid
 * conversations with bytes flipped, frames dropped, duplicated, swapped, resized or replaced
 * with random performatives, cut into random pieces) are fed to a client-role and a server-role
 * engine that play along (open, begin, attach, grant credit, send, settle). Whatever arrives:
 *
 * - `ingest()`, `takeOutput()`, `tick()` and `ingestEnd()` never throw;
 * - the engine ends in a clean state: finished with exactly one `connectionFinal` (after a
 *   `protocolError`, whose condition is the close frame's, when the failure was in AMQP), or
 *   still running with consistent link and session state;
 * - everything it writes is well-formed AMQP;
 * - memory stays bounded: no partial frame larger than max-frame-size is ever kept (a header
 *   declaring 4 GB is refused at once).
 *
 * Inputs come from a seeded generator: `QUARK_FUZZ_SEED=<seed> npx vitest run tests/fuzz` replays.
 * Inputs that once found a bug are kept in tests/fuzz/corpus/engine (`client-*.hex` for a
 * client-role engine, `server-*.hex` for a server-role one) and replayed by every run.
 */
import { describe, expect, it } from 'vitest';
import { ByteWriter } from '../../src/codec/byte-writer.js';
import {
  AMQP_FRAME_TYPE,
  ProtocolId,
  SASL_FRAME_TYPE,
  decodeFrame,
  protocolHeader,
  readFrameHeader,
  writeEmptyFrame,
  writeFrame,
} from '../../src/codec/frames.js';
import { encodeMessage } from '../../src/codec/message.js';
import { compositeSpecs, type CompositeSpec } from '../../src/codec/spec-tables.js';
import { encodeValue } from '../../src/codec/value-bytes.js';
import { symbol, ubyte, uint, ulong, type AmqpValue } from '../../src/codec/values.js';
import { ProtocolEngine } from '../../src/engine/engine.js';
import type { EngineEvent } from '../../src/engine/events.js';
import type { EngineLink } from '../../src/engine/link.js';
import { corpusOf } from '../support/fuzz-corpus.js';
import { SeededRandom, fuzzSeed } from '../support/seeded-random.js';

const SEED = fuzzSeed(0xe9_61_9e);
const INPUTS_PER_ROLE = 10_000;
/** Conversations are built once and mutated many times (building them costs more than playing them). */
const CORPUS_SIZE = 256;
const MAX_FRAME = 4096;
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

type Role = 'client' | 'server';

// ---- Valid conversations, as lists of chunks (headers and frames) ----

function frame(
  spec: CompositeSpec,
  fields: object,
  options: { channel?: number; payload?: Uint8Array; type?: number } = {},
): Buffer {
  const w = new ByteWriter(128);
  writeFrame(w, options.type ?? AMQP_FRAME_TYPE, options.channel ?? 0, spec, fields, options.payload);
  return w.toBuffer();
}

function emptyFrame(): Buffer {
  const w = new ByteWriter(8);
  writeEmptyFrame(w);
  return w.toBuffer();
}

const header = (id: ProtocolId): Buffer => Buffer.from(protocolHeader(id));
const message = (n: number): Uint8Array => encodeMessage({ messageId: n, body: `message ${n}` });
const error = { condition: 'amqp:internal-error', description: 'fuzz', info: { n: 1 } };

/** Transfers from the peer on `handle`: single-frame, multi-frame, aborted and pre-settled deliveries. */
function transfers(rng: SeededRandom, handle: number, count: number): Buffer[] {
  const out: Buffer[] = [];
  for (let id = 0; id < count; id++) {
    const payload = message(id);
    const tag = Uint8Array.of(id);
    const kind = rng.int(4);
    if (kind === 0 || kind === 3) {
      out.push(
        frame(
          compositeSpecs.transfer,
          { handle, deliveryId: id, deliveryTag: tag, messageFormat: 0, settled: kind === 3 || undefined },
          { payload },
        ),
      );
    } else {
      const cut = rng.range(1, payload.length - 1);
      out.push(
        frame(
          compositeSpecs.transfer,
          { handle, deliveryId: id, deliveryTag: tag, messageFormat: 0, more: true },
          { payload: payload.subarray(0, cut) },
        ),
      );
      out.push(
        kind === 2
          ? frame(compositeSpecs.transfer, { handle, aborted: true, settled: true })
          : frame(compositeSpecs.transfer, { handle }, { payload: payload.subarray(cut) }),
      );
    }
  }
  return out;
}

/** What a server says to a Quark client that attached a sender (handle 0) and a receiver (handle 1). */
function serverConversation(rng: SeededRandom): Buffer[] {
  const n = rng.range(1, 6);
  return [
    header(ProtocolId.Sasl),
    frame(compositeSpecs.saslMechanisms, { saslServerMechanisms: ['ANONYMOUS'] }, { type: SASL_FRAME_TYPE }),
    frame(compositeSpecs.saslOutcome, { code: 0 }, { type: SASL_FRAME_TYPE }),
    header(ProtocolId.Amqp),
    frame(compositeSpecs.open, {
      containerId: 'server',
      maxFrameSize: rng.pick([512, 1024, 65536]),
      idleTimeOut: rng.pick([undefined, 1000]),
    }),
    frame(compositeSpecs.begin, {
      remoteChannel: 0,
      nextOutgoingId: 0,
      incomingWindow: rng.pick([0, 1, 100]),
      outgoingWindow: 100,
    }),
    frame(compositeSpecs.attach, { name: 'snd', handle: 0, role: true, target: { kind: 'target', address: 'q' } }),
    frame(compositeSpecs.attach, {
      name: 'rcv',
      handle: 1,
      role: false,
      source: { kind: 'source', address: 'q' },
      initialDeliveryCount: 0,
    }),
    frame(compositeSpecs.flow, {
      nextIncomingId: 0,
      incomingWindow: 100,
      nextOutgoingId: 0,
      outgoingWindow: 100,
      handle: 0,
      deliveryCount: 0,
      linkCredit: rng.range(0, 5),
    }),
    ...transfers(rng, 1, n),
    emptyFrame(),
    frame(compositeSpecs.disposition, {
      role: true,
      first: 0,
      last: rng.range(0, 4),
      settled: true,
      state: { kind: rng.pick(['accepted', 'released'] as const) },
    }),
    frame(compositeSpecs.flow, {
      nextIncomingId: 0,
      incomingWindow: 100,
      nextOutgoingId: n,
      outgoingWindow: 100,
      handle: 0,
      deliveryCount: 0,
      linkCredit: 3,
      drain: true,
      echo: true,
    }),
    frame(compositeSpecs.flow, {
      nextIncomingId: 0,
      incomingWindow: 100,
      nextOutgoingId: n,
      outgoingWindow: 100,
      handle: 1,
      deliveryCount: n + 2,
      linkCredit: 0,
      drain: true,
    }),
    frame(compositeSpecs.detach, { handle: 1, closed: true, error }),
    frame(compositeSpecs.end, {}),
    frame(compositeSpecs.close, rng.chance(0.5) ? { error } : {}),
  ];
}

/** What a client says to a Quark server: a sender (handle 0) and a receiver (handle 1). */
function clientConversation(rng: SeededRandom): Buffer[] {
  const n = rng.range(1, 6);
  return [
    header(ProtocolId.Sasl),
    frame(
      compositeSpecs.saslInit,
      { mechanism: 'ANONYMOUS', initialResponse: new Uint8Array(0) },
      { type: SASL_FRAME_TYPE },
    ),
    header(ProtocolId.Amqp),
    frame(compositeSpecs.open, {
      containerId: 'client',
      maxFrameSize: rng.pick([512, 65536]),
      channelMax: rng.pick([0, 7]),
    }),
    frame(compositeSpecs.begin, { nextOutgoingId: 0, incomingWindow: rng.pick([0, 2, 100]), outgoingWindow: 100 }),
    frame(compositeSpecs.attach, {
      name: 'a',
      handle: 0,
      role: false,
      target: { kind: 'target', address: 'q' },
      initialDeliveryCount: 0,
    }),
    frame(compositeSpecs.attach, {
      name: 'b',
      handle: 1,
      role: true,
      source: { kind: 'source', address: 'q' },
      rcvSettleMode: rng.pick([0, 1]),
    }),
    frame(compositeSpecs.flow, {
      nextIncomingId: 0,
      incomingWindow: 100,
      nextOutgoingId: 0,
      outgoingWindow: 100,
      handle: 1,
      deliveryCount: 0,
      linkCredit: rng.range(0, 6),
    }),
    ...transfers(rng, 0, n),
    emptyFrame(),
    frame(compositeSpecs.disposition, {
      role: true,
      first: 0,
      last: rng.range(0, 3),
      settled: rng.chance(0.7),
      state: { kind: 'accepted' },
    }),
    frame(compositeSpecs.flow, {
      nextIncomingId: 0,
      incomingWindow: 100,
      nextOutgoingId: n,
      outgoingWindow: 100,
      handle: 1,
      deliveryCount: 0,
      linkCredit: 2,
      drain: true,
    }),
    frame(compositeSpecs.detach, { handle: 0, closed: false }),
    frame(compositeSpecs.end, { error }),
    frame(compositeSpecs.close, {}),
  ];
}

// ---- Mutations ----

function randomValue(rng: SeededRandom, depth = 0): AmqpValue {
  switch (rng.int(depth > 1 ? 9 : 11)) {
    case 0:
      return null;
    case 1:
      return rng.chance(0.5);
    case 2:
      return uint(rng.pick([0, 1, 255, 65535, 0x7fffffff, 0xffffffff, rng.next()]));
    case 3:
      return ubyte(rng.int(256));
    case 4:
      return ulong(BigInt(rng.next()) << BigInt(rng.int(33)));
    case 5:
      return Buffer.from(rng.bytes(rng.int(12)));
    case 6:
      return rng.pick(['', 'x', 'amqp:internal-error', 'ü✓']);
    case 7:
      return symbol(rng.pick(['ANONYMOUS', 'amqp:accepted:list', 'x']));
    case 8:
      return rng.int(1000) - 500;
    case 9:
      return Array.from({ length: rng.int(4) }, () => randomValue(rng, depth + 1));
    default:
      return new Map([[symbol('k'), randomValue(rng, depth + 1)]]);
  }
}

/** A frame with a random performative (or SASL frame, or state) descriptor and random fields. */
function randomFrame(rng: SeededRandom): Buffer {
  const code = rng.pick([
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x40, 0x41, 0x42, 0x43, 0x44, 0x1d, 0x24, 0x28, 0x99,
  ]);
  const fields = Array.from({ length: rng.int(12) }, () => randomValue(rng));
  const list = Buffer.from(encodeValue(fields));
  const body = Buffer.concat([
    Buffer.from([0x00, 0x53, code]),
    list,
    rng.chance(0.3) ? Buffer.from(rng.bytes(rng.int(20))) : Buffer.alloc(0),
  ]);
  const head = Buffer.alloc(8);
  head.writeUInt32BE(8 + body.length, 0);
  head[4] = 2;
  head[5] = code >= 0x40 && code <= 0x44 ? SASL_FRAME_TYPE : rng.chance(0.9) ? AMQP_FRAME_TYPE : rng.int(4);
  head.writeUInt16BE(rng.chance(0.8) ? 0 : rng.int(3), 6);
  return Buffer.concat([head, body]);
}

function mutate(rng: SeededRandom, chunks: Buffer[]): Buffer {
  const list: Buffer[] = chunks.map((c) => Buffer.from(c));
  const rounds = rng.range(1, 3);
  for (let r = 0; r < rounds; r++) {
    if (list.length === 0) list.push(randomFrame(rng));
    const i = rng.int(list.length);
    const target = list[i]!;
    switch (rng.int(11)) {
      case 0: // flip bytes
        for (let k = rng.range(1, 4); k > 0; k--)
          if (target.length > 0) target[rng.int(target.length)] ^= 1 << rng.int(8);
        break;
      case 1: // random byte values
        for (let k = rng.range(1, 4); k > 0; k--) if (target.length > 0) target[rng.int(target.length)] = rng.int(256);
        break;
      case 2: // drop a chunk
        list.splice(i, 1);
        break;
      case 3: // duplicate a chunk
        list.splice(i, 0, Buffer.from(target));
        break;
      case 4: {
        // swap two chunks
        const j = rng.int(list.length);
        [list[i], list[j]] = [list[j]!, list[i]!];
        break;
      }
      case 5: // a new size field
        if (target.length >= 8 && target[0] !== 0x41)
          target.writeUInt32BE(
            rng.pick([
              0,
              7,
              8,
              9,
              target.length - 1,
              target.length + 1,
              MAX_FRAME + 1,
              0x7fffffff,
              0xffffffff,
              rng.next(),
            ]),
            0,
          );
        break;
      case 6: // a new data offset, type or channel
        if (target.length >= 8 && target[0] !== 0x41)
          target[4 + rng.int(4)] = rng.pick([0, 1, 2, 3, 0xff, rng.int(256)]);
        break;
      case 7: // a random frame in its place, or before it
        list.splice(i, rng.int(2), randomFrame(rng));
        break;
      case 8: // random bytes inserted
        list.splice(i, 0, Buffer.from(rng.bytes(rng.range(1, 16))));
        break;
      case 9: // the stream cut short
        list.length = i;
        break;
      default: // a truncated frame followed by the rest
        if (target.length > 1) list[i] = target.subarray(0, rng.int(target.length));
        break;
    }
  }
  return Buffer.concat(list);
}

// ---- Engines that play along ----

interface Run {
  engine: ProtocolEngine;
  events: EngineEvent[];
  output: Buffer[];
}

function makeEngine(role: Role, rng: SeededRandom, saslFailures = true): Run {
  const engine = new ProtocolEngine({
    role,
    containerId: role,
    maxFrameSize: MAX_FRAME,
    idleTimeout: rng.pick([0, 5000]),
    channelMax: rng.pick([undefined, 3]),
  });
  const events: EngineEvent[] = [];
  let sends = 0;
  const sendWhileCredit = (link: EngineLink): void => {
    while (link.role === 'sender' && link.isOpen && link.credit > 0 && sends < 20)
      link.send(message(sends++), { settled: rng.chance(0.2) });
  };
  engine.onEvent = (e) => {
    events.push(e);
    switch (e.type) {
      case 'saslInit':
        engine.completeSasl(saslFailures && rng.chance(0.05) ? 1 : 0);
        return;
      case 'connectionRemoteOpen':
        if (role === 'server') engine.open();
        return;
      case 'sessionRemoteOpen':
        if (e.session.localState === 'unopened') e.session.open();
        return;
      case 'linkRemoteOpen':
        if (e.link.localState === 'unopened') {
          e.link.open({ source: e.link.remote?.source, target: e.link.remote?.target });
          if (e.link.role === 'receiver') e.link.addCredit(rng.range(0, 4));
        }
        sendWhileCredit(e.link);
        return;
      case 'linkFlow':
        sendWhileCredit(e.link);
        return;
      case 'delivery':
        if (!e.delivery.settled)
          e.delivery.update(
            rng.pick([{ kind: 'accepted' as const }, { kind: 'released' as const }, undefined]),
            rng.chance(0.9),
          );
        if (rng.chance(0.2)) e.link.addCredit(1);
        if (rng.chance(0.05)) e.link.requestDrain();
        return;
    }
  };
  const output: Buffer[] = [];
  if (role === 'client') {
    engine.open();
    const session = engine.createSession();
    session.open();
    session.createLink({ name: 'snd', role: 'sender', target: { kind: 'target', address: 'q' } }).open();
    const rcv = session.createLink({ name: 'rcv', role: 'receiver', source: { kind: 'source', address: 'q' } });
    rcv.setCredit(rng.range(0, 5));
    rcv.open();
  }
  return { engine, events, output };
}

/** Checks our own output: headers and well-formed frames only. Returns the last frame's performative. */
function checkOutput(bytes: Buffer): ({ kind: string } & Record<string, unknown>) | undefined {
  let pos = 0;
  let last: ({ kind: string } & Record<string, unknown>) | undefined;
  while (pos < bytes.length) {
    if (bytes[pos] === 0x41) {
      pos += 8;
      continue;
    }
    const h = readFrameHeader(bytes, pos, 0xffffffff);
    if (!h || bytes.length - pos < h.size) throw new Error(`our output ends in a partial frame at ${pos}`);
    last = (decodeFrame(bytes, pos, h).performative as unknown as typeof last) ?? last;
    pos += h.size;
  }
  return last;
}

function stashSize(engine: ProtocolEngine): number {
  const stash: unknown = Reflect.get(engine, 'stash');
  return stash instanceof Uint8Array ? stash.length : 0;
}

/** Feeds `input` in random pieces; returns what is wrong, or undefined. */
function play(role: Role, rng: SeededRandom, input: Buffer): string | undefined {
  const run = makeEngine(role, rng);
  const { engine, events, output } = run;
  const take = (): void => {
    const out = engine.takeOutput();
    if (out) output.push(Buffer.from(out));
  };
  let now = 0;
  let fed = 0;
  let maxStash = 0;
  try {
    take();
    let pos = 0;
    while (pos < input.length) {
      const n = rng.chance(0.3) ? rng.range(1, 8) : rng.range(1, 600);
      engine.ingest(input.subarray(pos, pos + n));
      pos += n;
      fed++;
      maxStash = Math.max(maxStash, stashSize(engine));
      if (rng.chance(0.3)) take();
      if (rng.chance(0.1)) engine.tick((now += rng.range(0, 3000)));
    }
    take();
    engine.tick((now += rng.range(0, 10_000)));
    take();
    if (rng.chance(0.3)) {
      engine.ingestEnd();
      take();
    }
  } catch (e) {
    return `threw ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`;
  }
  if (maxStash > MAX_FRAME) return `kept a partial frame of ${maxStash} bytes, above max-frame-size ${MAX_FRAME}`;
  const finals = events.filter((e) => e.type === 'connectionFinal').length;
  const finalAt = events.findIndex((e) => e.type === 'connectionFinal');
  if (finals > 1) return `${finals} connectionFinal events`;
  if (finalAt >= 0 && finalAt !== events.length - 1)
    return `events after connectionFinal: ${events
      .slice(finalAt + 1)
      .map((e) => e.type)
      .join(',')}`;
  if (engine.finished !== (finals === 1)) return `finished=${engine.finished} but ${finals} connectionFinal events`;
  const protocolErrors = events.filter((e) => e.type === 'protocolError');
  if (protocolErrors.length > 1) return `${protocolErrors.length} protocolError events`;
  let last;
  try {
    last = checkOutput(Buffer.concat(output));
  } catch (e) {
    return `wrote malformed output: ${(e as Error).message}`;
  }
  const pe = protocolErrors[0];
  if (pe?.type === 'protocolError') {
    if (!engine.finished) return 'a protocolError left the engine running';
    if (!pe.error.condition.startsWith('amqp:')) return `protocolError condition ${pe.error.condition}`;
    if (engine.localError !== undefined && last?.kind === 'close') {
      const condition = (last['error'] as { condition?: string } | undefined)?.condition;
      if (condition !== pe.error.condition)
        return `close frame says ${condition}, protocolError says ${pe.error.condition}`;
    }
  }
  if (!engine.finished) {
    for (const session of engine.sessions) {
      for (const link of session.links) {
        if (!(Number.isInteger(link.credit) && link.credit >= 0)) return `link ${link.name} credit ${link.credit}`;
        if (link.role === 'receiver' && link.current?.chunks && link.current.size > MAX_FRAME * 64)
          return 'a partial delivery grew without bound';
      }
      if (session.incomingUnsettled.size > fed * 64 + 64) return 'unsettled deliveries grew without bound';
    }
  }
  return undefined;
}

describe('engine fuzz: random and mutated frame streams', () => {
  for (const role of ['client', 'server'] as const) {
    it(`a ${role}-role engine never throws, always ends clean and keeps memory bounded (${INPUTS_PER_ROLE} inputs)`, () => {
      const rng = new SeededRandom(SEED ^ (role === 'client' ? 0 : 0x5e5e));
      const corpus = Array.from({ length: CORPUS_SIZE }, () =>
        role === 'client' ? serverConversation(rng) : clientConversation(rng),
      );
      const failures: string[] = [];
      for (let i = 0; i < INPUTS_PER_ROLE && failures.length < 5; i++) {
        const conversation = rng.pick(corpus);
        let input: Buffer;
        const kind = rng.int(20);
        if (kind === 0) input = Buffer.concat(conversation);
        else if (kind === 1)
          input = Buffer.concat([
            ...conversation.slice(0, rng.int(conversation.length)),
            Buffer.from(rng.bytes(rng.range(1, 200))),
          ]);
        else if (kind === 2)
          input = Buffer.concat([
            ...conversation.slice(0, rng.range(3, 5)),
            ...Array.from({ length: rng.range(1, 6) }, () => randomFrame(rng)),
          ]);
        else input = mutate(rng, conversation);
        const wrong = play(role, rng, input);
        if (wrong) failures.push(`input ${i} (seed ${SEED}): ${wrong}\n  ${hex(input).slice(0, 600)}`);
      }
      expect(failures, `replay with QUARK_FUZZ_SEED=${SEED}\n${failures.join('\n')}`).toEqual([]);
    });
  }

  it('replays the committed corpus (inputs that once found a bug), each whole and cut into random pieces, in the role its name gives', () => {
    const failures: string[] = [];
    for (const { name, bytes } of corpusOf('engine')) {
      const role = name.startsWith('client-') ? 'client' : name.startsWith('server-') ? 'server' : undefined;
      if (role === undefined) {
        failures.push(`${name}: the name must start with client- or server- (the role of the engine it is fed to)`);
        continue;
      }
      const rng = new SeededRandom(SEED);
      for (let i = 0; i < 20; i++) {
        const wrong = play(role, rng, bytes);
        if (wrong) failures.push(`${name} (play ${i}, seed ${SEED}): ${wrong}`);
      }
    }
    expect(failures).toEqual([]);
  });

  it('the unmutated conversations run to a clean close in both roles (the corpus is meaningful)', () => {
    const rng = new SeededRandom(SEED);
    for (const role of ['client', 'server'] as const) {
      for (let i = 0; i < 50; i++) {
        const run = makeEngine(role, rng, false);
        run.engine.takeOutput();
        const conversation = role === 'client' ? serverConversation(rng) : clientConversation(rng);
        run.engine.ingest(Buffer.concat(conversation));
        expect(
          run.events.some((e) => e.type === 'protocolError'),
          `${role} #${i}: ${run.events.map((e) => (e.type === 'protocolError' ? e.error.message : e.type)).join(', ')}`,
        ).toBe(false);
        expect(
          run.events.some((e) => e.type === 'connectionRemoteClose'),
          `${role} #${i}: ${run.events.map((e) => e.type).join(', ')}`,
        ).toBe(true);
        expect(run.engine.finished).toBe(true);
      }
    }
  });

  it('a frame header declaring 4 GB is refused at once, before any of its body arrives', () => {
    for (const role of ['client', 'server'] as const) {
      const rng = new SeededRandom(SEED);
      const run = makeEngine(role, rng);
      const prefix = role === 'client' ? serverConversation(rng).slice(0, 6) : clientConversation(rng).slice(0, 5);
      run.engine.ingest(Buffer.concat(prefix));
      expect(run.engine.finished).toBe(false);
      run.engine.ingest(Buffer.from('ffffffff02000000', 'hex'));
      expect(run.engine.finished).toBe(true);
      expect(stashSize(run.engine)).toBe(0);
      const error = run.events.find((e) => e.type === 'protocolError');
      expect(error?.type === 'protocolError' && error.error.condition).toBe('amqp:connection:framing-error');
    }
  });

  it('a frame header arriving byte by byte is judged as soon as its size is known', () => {
    const rng = new SeededRandom(SEED);
    const run = makeEngine('client', rng);
    run.engine.ingest(Buffer.concat(serverConversation(rng).slice(0, 6)));
    for (const byte of Buffer.from('7fffffff', 'hex')) run.engine.ingest(Buffer.of(byte));
    // Four bytes of a header are not enough to judge it (the data offset is in the fifth).
    expect(stashSize(run.engine)).toBeLessThanOrEqual(8);
    for (const byte of Buffer.from('02000000', 'hex')) run.engine.ingest(Buffer.of(byte));
    expect(run.engine.finished).toBe(true);
    expect(stashSize(run.engine)).toBe(0);
  });
});
