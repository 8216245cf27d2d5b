/**
 * The protocol engine: one AMQP connection, with no I/O at all. Bytes go in through `ingest()`,
 * bytes to send come out of `takeOutput()`, time moves only through `tick(now)`, and every state
 * change is an {@link EngineEvent}. The same bytes and ticks always give the same events.
 *
 * It speaks both sides: a `client` sends its protocol header first; a `server` answers one.
 */
import { Buffer } from 'node:buffer';
import { ByteWriter } from '../codec/byte-writer.js';
import type { Composite, ErrorCondition, Fields } from '../codec/composite-types.js';
import { ByteReader, readComposite } from '../codec/decoder.js';
import {
  newTransferFields,
  readTransferInto,
  startsTransfer,
  type LocatedTransferFields,
} from '../codec/transfer-decoder.js';
import {
  AMQP_FRAME_TYPE,
  ProtocolId,
  SASL_FRAME_TYPE,
  decodeFrame,
  protocolHeader,
  readFrameHeader,
  readProtocolHeader,
  writeEmptyFrame,
  writeFrame,
  type Frame,
  type FrameHeader,
} from '../codec/frames.js';
import {
  compositeSpecs,
  type BeginFields,
  type CompositeSpec,
  type OpenFields,
  type TransferFields,
} from '../codec/spec-tables.js';
import { AmqpError, DecodeError, IllegalStateError, InsecurePlainError } from '../errors.js';
import type { EndpointState } from './endpoint-state.js';
import type { EngineEvent } from './events.js';
import { frameLog, traceFrame } from './frame-trace.js';
import { chooseSaslMechanism, type SaslClientMechanism, type SaslClientOptions } from './sasl.js';
import { EngineSession, type SessionOptions } from './session.js';

/** Options of one connection's engine. */
export interface EngineOptions {
  /** `client` sends the first protocol header; `server` answers one. */
  role: 'client' | 'server';
  /** Our container id (open's container-id). */
  containerId: string;
  /** The virtual host we ask for (client) or announce (server). */
  hostname?: string | undefined;
  /** The largest frame we accept, in bytes (at least 512). Default 262144. */
  maxFrameSize?: number | undefined;
  /** The highest channel number we accept. Default 65535. */
  channelMax?: number | undefined;
  /** The highest link handle we accept on the sessions the peer begins (their begin's handle-max). Default 4294967295. */
  handleMax?: number | undefined;
  /** Our idle timeout in milliseconds: the peer must send something at least this often. 0 or absent: none. */
  idleTimeout?: number | undefined;
  offeredCapabilities?: string[] | undefined;
  desiredCapabilities?: string[] | undefined;
  properties?: Fields | undefined;
  /** Client: SASL credentials and mechanisms, or `false` to send a bare AMQP header. Default: SASL ANONYMOUS. */
  sasl?: SaslClientOptions | false | undefined;
  /** Server: the SASL mechanisms to offer, or `false` for none. Default ['ANONYMOUS']. */
  saslMechanisms?: string[] | false | undefined;
  /** Server: whether a client may skip SASL. Default: only when `saslMechanisms` is false. */
  allowNoSasl?: boolean | undefined;
}

type Phase = 'idle' | 'header' | 'sasl' | 'amqp' | 'done';

/** What a client may send after its sasl-init before our outcome (its AMQP header and open fit many times). */
const MAX_PIPELINED_BEFORE_OUTCOME = 64 * 1024;

const DEFAULT_MAX_FRAME_SIZE = 262144;
/** We never write frames larger than this, whatever the peer allows, so links interleave fairly. */
const OUTGOING_FRAME_CAP = 262144;
const MIN_MAX_FRAME_SIZE = 512;
/** Output larger than this is handed off instead of copied out of the writer. */
const HANDOFF_SIZE = 65536;
/** Transfer payloads at least this large are written by reference instead of copied. */
const BY_REFERENCE_SIZE = 8192;

export class ProtocolEngine {
  readonly options: EngineOptions;
  localState: EndpointState = 'unopened';
  remoteState: EndpointState = 'unopened';
  /** The peer's open, once it arrived. */
  remoteOpen: OpenFields | undefined;
  /** The error of the peer's close, when it had one. */
  remoteError: ErrorCondition | undefined;
  /** The error we closed with, when we did. */
  localError: ErrorCondition | undefined;
  /** Server side: the mechanism and user name the client authenticated with. */
  saslMechanism: string | undefined;
  /** The largest frame we write: the peer's max-frame-size (capped). */
  maxOutgoingFrameSize = MIN_MAX_FRAME_SIZE;
  /** The peer's idle timeout in milliseconds (0: none). */
  remoteIdleTimeout = 0;
  /** Server: a sasl-init was received and its outcome is not decided yet. */
  private awaitingSaslOutcome = false;
  /** Server: a challenge was sent and its answer has not come. */
  private awaitingSaslResponse = false;
  /** Client: the mechanism being run. */
  private saslClient: SaslClientMechanism | undefined;
  /** Set when the engine has stopped: no more input is read and, once output is written, the transport may end. */
  finished = false;

  /** Called with each event, in order. */
  onEvent: ((event: EngineEvent) => void) | undefined;
  /** Called once when output becomes available after a `takeOutput()`. */
  onOutput: (() => void) | undefined;
  /** Deliveries received so far (counted at their first transfer): how busy the input is, for the transport's batching. */
  deliveriesReceived = 0;
  /** How many times a receiving link's credit ran out (a delivery took its last): its sender waits for our flow. */
  creditRunOuts = 0;

  private phase: Phase = 'idle';
  private expectedProtocol = ProtocolId.Amqp;
  private readonly maxFrameSize: number;
  private readonly out = new ByteWriter(16384);
  /** Output ready to write, in order: sealed writer contents and referenced payloads. */
  private chunks: Buffer[] = [];
  /** Frames written before our open went out wait here (pipelined begins and attaches). */
  private deferred: ByteWriter | undefined;
  private openSent = false;
  private outputSignaled = false;
  private readonly localChannels: (EngineSession | undefined)[] = [];
  private readonly remoteChannels = new Map<number, EngineSession>();
  private readonly events: EngineEvent[] = [];
  private dispatching = false;
  /** Fewer than 8 bytes of a frame header or protocol header, kept for the next chunk. */
  private stash: Buffer | undefined;
  /** Callbacks of deliveries whose last frame is in the output being built, and in the output last taken. */
  private writtenCallbacks: (() => void)[] | undefined;
  private takenCallbacks: (() => void)[] | undefined;
  /** The header and the decoded frame being processed, reused for every frame. */
  private readonly frameHeader: FrameHeader = { size: 0, bodyOffset: 0, type: 0, channel: 0 };
  private readonly frame: Frame = { type: 0, channel: 0, performative: undefined, payload: undefined };
  /** Reused for every transfer read on the fast path (see `onTransferFrame`). */
  private readonly transferFields: LocatedTransferFields = newTransferFields();
  /** The chunks of a frame that is still arriving, its bytes so far, and its size. */
  private parts: Buffer[] | undefined;
  private partsSize = 0;
  private partsNeed = 0;
  private inputSeen = false;
  /**
   * Whether the frames read are traced (DEBUG=quark:frames), read once per `ingest`: the logger's
   * `enabled` is a getter on a function object, an inline-cache miss in the per-frame path.
   */
  private tracingInput = false;
  private outputSeen = false;
  private lastInput = -1;
  private lastOutput = -1;

  constructor(options: EngineOptions) {
    this.options = options;
    this.maxFrameSize = Math.max(MIN_MAX_FRAME_SIZE, options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE);
    if (options.role === 'server') this.phase = 'header';
  }

  /** Every session that has begun on either side and not been forgotten. */
  get sessions(): EngineSession[] {
    const all = new Set<EngineSession>();
    for (const s of this.localChannels) if (s) all.add(s);
    for (const s of this.remoteChannels.values()) all.add(s);
    return [...all];
  }

  /** Whether frames may be written now (our open has gone out and we have not stopped). */
  get canWriteFrames(): boolean {
    return this.openSent && !this.finished && this.localState === 'open';
  }

  // ---- Commands ----

  /**
   * Client: sends the protocol header (and, without SASL, the open). Server: answers the peer's
   * open with ours. Sessions and links may be opened at once: their frames follow the open.
   */
  open(): void {
    if (this.localState !== 'unopened' || this.finished) return;
    this.localState = 'open';
    if (this.options.role === 'client') {
      if (this.options.sasl === false) this.sendAmqpHeaderAndOpen();
      else {
        this.writeRaw(protocolHeader(ProtocolId.Sasl));
        this.expectedProtocol = ProtocolId.Sasl;
        this.phase = 'header';
      }
    } else if (this.phase === 'amqp') {
      this.sendOpen();
    }
    this.dispatch();
  }

  /** Writes now what every session holds for the end of the turn (coalesced dispositions and flows), ahead of what comes next. */
  flushSessions(): void {
    for (const s of this.localChannels) s?.flush();
  }

  /** Closes the connection, with an error when given. */
  close(error?: ErrorCondition): void {
    if (this.localState === 'closed' || this.finished) return;
    if (!this.openSent && this.phase !== 'amqp') {
      // Nothing has been opened on the wire: just stop.
      this.localState = 'closed';
      this.localError = error;
      this.finish();
      this.dispatch();
      return;
    }
    if (!this.openSent) this.sendOpen();
    // Dispositions and flows waiting for the end of the turn go out before the close, not after it.
    for (const s of this.localChannels) s?.flush();
    this.localState = 'closed';
    this.localError = error;
    this.writeFrame(0, compositeSpecs.close, error ? { error } : {});
    if (this.remoteState === 'closed') this.finish();
    this.dispatch();
  }

  /** Creates a session; `open()` it to begin. */
  createSession(options: SessionOptions = {}): EngineSession {
    return new EngineSession(this, options);
  }

  /**
   * Server side: sends a challenge (for mechanisms with more than one round, as SCRAM); the
   * client's answer comes as a `saslResponse` event.
   */
  challengeSasl(challenge: Uint8Array): void {
    if (this.phase !== 'sasl' || this.options.role !== 'server' || !this.awaitingSaslOutcome) return;
    this.awaitingSaslResponse = true;
    this.writeSaslFrame(compositeSpecs.saslChallenge, { challenge });
    // Whatever the client sent after its sasl-init is read now, as its answer.
    this.processHeldInput();
    this.dispatch();
  }

  /**
   * Server side: ends the exchange begun by a `saslInit` event. Code 0 is success; 1 auth, 2 sys,
   * 3 sys-perm, 4 sys-temp. `additionalData` goes with a success (SCRAM's server-final message).
   */
  completeSasl(code: number, additionalData?: Uint8Array): void {
    if (this.phase !== 'sasl' || this.options.role !== 'server' || !this.awaitingSaslOutcome) return;
    this.awaitingSaslOutcome = false;
    this.awaitingSaslResponse = false;
    this.writeSaslFrame(compositeSpecs.saslOutcome, code === 0 && additionalData ? { code, additionalData } : { code });
    if (code === 0) {
      this.phase = 'header';
      this.expectedProtocol = ProtocolId.Amqp;
      // What a client pipelined after its sasl-init (the AMQP header, its open) waited for this.
      this.processHeldInput();
    } else {
      this.finish();
    }
    this.dispatch();
  }

  /** Reads input held while the login was being decided. */
  private processHeldInput(): void {
    const held = this.stash;
    this.stash = undefined;
    if (held === undefined) return;
    this.tracingInput = frameLog.enabled;
    try {
      this.process(held, 0);
    } catch (err) {
      this.failOnInput(err);
    }
  }

  // ---- Input ----

  /** Reads bytes from the peer. The engine keeps views into `bytes`: the caller must not reuse them. */
  ingest(bytes: Uint8Array): void {
    if (this.finished || bytes.length === 0) return;
    this.inputSeen = true;
    this.tracingInput = frameLog.enabled;
    let buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let pos = 0;
    try {
      if (this.parts !== undefined) {
        // The rest of a frame that began in an earlier chunk: keep views, copy nothing yet.
        const n = Math.min(this.partsNeed - this.partsSize, buf.length);
        this.parts.push(n === buf.length ? buf : buf.subarray(0, n));
        this.partsSize += n;
        pos = n;
        if (this.partsSize < this.partsNeed) return;
        const parts = this.parts;
        this.parts = undefined;
        this.onSplitFrame(parts);
      } else if (this.stash !== undefined) {
        buf = Buffer.concat([this.stash, buf]);
        this.stash = undefined;
      }
      this.process(buf, pos);
    } catch (err) {
      this.failOnInput(err);
    } finally {
      this.dispatch();
    }
  }

  /** The peer's bytes ended (its socket closed). */
  ingestEnd(): void {
    if (this.finished) return;
    this.finish();
    this.dispatch();
  }

  private process(buf: Buffer, start: number): void {
    let pos = start;
    // One reader for every frame of this chunk.
    let reader: ByteReader | undefined;
    const header = this.frameHeader;
    while (pos < buf.length && !this.finished) {
      if (this.phase === 'header') {
        if (buf.length - pos < 8) return this.keep(buf, pos);
        this.onProtocolHeader(buf, pos);
        pos += 8;
        continue;
      }
      if (this.phase !== 'sasl' && this.phase !== 'amqp') {
        throw new DecodeError(
          'the peer sent bytes before the protocol header exchange',
          pos,
          'amqp:connection:framing-error',
        );
      }
      // Server: a client may pipeline its AMQP header and open after its sasl-init; they wait
      // for our outcome (spec 5.3.2), and are read once the login is decided.
      if (this.awaitingSaslOutcome && !this.awaitingSaslResponse) {
        if (buf.length - pos > MAX_PIPELINED_BEFORE_OUTCOME)
          throw new DecodeError('more than 64 KiB sent before the SASL outcome', pos, 'amqp:connection:framing-error');
        return this.keep(buf, pos);
      }
      if (readFrameHeader(buf, pos, this.maxFrameSize, header) === undefined) return this.keep(buf, pos);
      if (buf.length - pos < header.size) {
        this.parts = [buf.subarray(pos)];
        this.partsSize = buf.length - pos;
        this.partsNeed = header.size;
        return;
      }
      const size = header.size;
      this.onFrame(buf, pos, header, (reader ??= new ByteReader(buf)));
      pos += size;
    }
  }

  private keep(buf: Buffer, pos: number): void {
    this.stash = Buffer.from(buf.subarray(pos));
  }

  /**
   * A frame that arrived in several chunks. A transfer whose performative lies whole in the first
   * chunk keeps its payload as views of the chunks (the delivery joins them once, at its end);
   * anything else is joined here.
   */
  private onSplitFrame(parts: Buffer[]): void {
    const first = parts[0]!;
    const header = readFrameHeader(first, 0, this.maxFrameSize)!;
    if (this.phase === 'amqp' && header.type === AMQP_FRAME_TYPE && first.length > header.bodyOffset) {
      let transfer: Composite<'transfer'> | undefined;
      let payloadStart = 0;
      try {
        const r = new ByteReader(first, header.bodyOffset, first.length);
        const p = readComposite(r);
        if (p.kind === 'transfer') {
          transfer = p;
          payloadStart = r.pos;
        }
      } catch {
        transfer = undefined; // Cut inside the performative (or malformed): decode the joined frame below.
      }
      if (transfer !== undefined) {
        const payload: Buffer[] = [];
        if (payloadStart < first.length) payload.push(first.subarray(payloadStart));
        for (let i = 1; i < parts.length; i++) payload.push(parts[i]!);
        if (this.tracingInput) traceFrame('<-', header.channel, transfer, this.partsNeed - payloadStart);
        this.onPerformative(header.channel, transfer, payload, 0);
        return;
      }
    }
    this.onFrame(Buffer.concat(parts, header.size), 0, header);
  }

  private onProtocolHeader(buf: Buffer, pos: number): void {
    const header = readProtocolHeader(buf, pos);
    if (header.major !== 1 || header.minor !== 0) {
      this.refuseHeader(
        `the peer speaks AMQP ${header.major}.${header.minor}.${header.revision}; only 1.0.0 is supported`,
      );
      return;
    }
    if (this.options.role === 'client') {
      if (header.protocolId !== this.expectedProtocol) {
        const what =
          header.protocolId === ProtocolId.Sasl
            ? 'requires SASL (connect with SASL enabled)'
            : header.protocolId === ProtocolId.Tls
              ? 'requires TLS (use amqps://)'
              : 'does not speak SASL (connect with sasl: false)';
        this.protocolFailure(new AmqpError('amqp:connection:framing-error', `The peer ${what}.`));
        return;
      }
      this.phase = header.protocolId === ProtocolId.Sasl ? 'sasl' : 'amqp';
      this.emit({ type: 'protocolHeader', protocolId: header.protocolId });
      return;
    }
    // Server: answer the client's header.
    const mechanisms = this.options.saslMechanisms ?? ['ANONYMOUS'];
    const saslDone = this.saslMechanism !== undefined;
    if (header.protocolId === ProtocolId.Sasl && mechanisms !== false && !saslDone) {
      this.writeRaw(protocolHeader(ProtocolId.Sasl));
      this.writeSaslFrame(compositeSpecs.saslMechanisms, { saslServerMechanisms: mechanisms });
      this.phase = 'sasl';
    } else if (
      header.protocolId === ProtocolId.Amqp &&
      (saslDone || (this.options.allowNoSasl ?? mechanisms === false))
    ) {
      this.writeRaw(protocolHeader(ProtocolId.Amqp));
      this.phase = 'amqp';
    } else {
      this.refuseHeader(
        header.protocolId === ProtocolId.Amqp
          ? 'the client skipped SASL, which this server requires'
          : `protocol id ${header.protocolId} is not supported here`,
      );
      return;
    }
    this.emit({ type: 'protocolHeader', protocolId: header.protocolId });
  }

  /** Answers an unacceptable protocol header with the one we want, then stops (spec 2.2). */
  private refuseHeader(reason: string): void {
    const wanted =
      this.options.role === 'server' && this.options.saslMechanisms !== false && this.saslMechanism === undefined
        ? ProtocolId.Sasl
        : ProtocolId.Amqp;
    this.writeRaw(protocolHeader(wanted));
    this.protocolFailure(new AmqpError('amqp:connection:framing-error', `Protocol header refused: ${reason}.`));
  }

  private onFrame(buf: Buffer, pos: number, header: FrameHeader, reader?: ByteReader): void {
    if (reader !== undefined && this.phase === 'amqp' && this.onTransferFrame(buf, pos, header, reader)) return;
    // The frame object is reused: nothing below keeps it (its performative and payload are kept).
    const frame = decodeFrame(buf, pos, header, reader, this.frame);
    if (this.tracingInput) traceFrame('<-', frame.channel, frame.performative, frame.payload?.length ?? 0);
    if (this.phase === 'sasl') {
      if (frame.type !== SASL_FRAME_TYPE || !frame.performative)
        throw new DecodeError('expected a SASL frame', pos, 'amqp:connection:framing-error');
      this.onSaslFrame(frame);
      return;
    }
    if (frame.type !== AMQP_FRAME_TYPE)
      throw new DecodeError(`unexpected frame type ${frame.type} after SASL`, pos, 'amqp:connection:framing-error');
    if (!frame.performative) return; // An empty frame: the peer is alive.
    this.onPerformative(frame.channel, frame.performative, frame.payload, pos);
  }

  /**
   * The receiver's common case, a whole transfer frame in the usual encoding, decoded into one
   * reused fields object (see transfer-decoder.ts); false for anything else, which the generic
   * path decodes. Nothing below keeps the fields object: a delivery copies what it needs.
   */
  private onTransferFrame(buf: Buffer, pos: number, header: FrameHeader, reader: ByteReader): boolean {
    const start = pos + header.bodyOffset;
    const end = pos + header.size;
    if (header.type !== AMQP_FRAME_TYPE || this.remoteState === 'unopened' || !startsTransfer(buf, start, end))
      return false;
    const fields = this.transferFields;
    if (!readTransferInto(reader.rewind(start, end), fields)) return false;
    if (this.tracingInput) {
      const { tagStart, tagEnd, payloadStart, payloadEnd, ...performative } = fields;
      const deliveryTag = tagEnd < 0 ? undefined : buf.subarray(tagStart, tagEnd);
      traceFrame('<-', header.channel, { kind: 'transfer', ...performative, deliveryTag }, payloadEnd - payloadStart);
    }
    this.sessionOnChannel(header.channel, 'transfer', pos).onLocatedTransfer(fields, buf);
    return true;
  }

  /** The session a performative on `channel` is for; a framing error when none has begun there. */
  private sessionOnChannel(channel: number, kind: string, pos: number): EngineSession {
    const session = this.remoteChannels.get(channel);
    if (!session)
      throw new DecodeError(
        `${kind} on channel ${channel}, where no session has begun`,
        pos,
        'amqp:connection:framing-error',
      );
    return session;
  }

  private onPerformative(channel: number, p: Composite, payload: Buffer | Buffer[] | undefined, pos: number): void {
    if (this.remoteState === 'unopened' && p.kind !== 'open') {
      throw new DecodeError(`the first frame must be open, got ${p.kind}`, pos, 'amqp:connection:framing-error');
    }
    switch (p.kind) {
      case 'open':
        return this.onOpen(p);
      case 'close':
        return this.onClose(p);
      case 'begin':
        return this.onBegin(channel, p);
    }
    const session = this.sessionOnChannel(channel, p.kind, pos);
    switch (p.kind) {
      case 'transfer':
        return session.onTransfer(p, payload);
      case 'disposition':
        return session.onDisposition(p);
      case 'flow':
        return session.onFlow(p);
      case 'attach':
        return session.onAttach(p);
      case 'detach':
        return session.onDetach(p);
      case 'end':
        return this.onEnd(channel, session, p);
    }
    throw new DecodeError(`${p.kind} is not a performative`, pos, 'amqp:connection:framing-error');
  }

  private onSaslFrame(frame: Frame): void {
    const p = frame.performative!;
    if (this.options.role === 'client') {
      switch (p.kind) {
        case 'saslMechanisms': {
          const offered = p.saslServerMechanisms;
          const choice = chooseSaslMechanism(offered, this.options.sasl || {});
          if (typeof choice === 'string') {
            const sasl = this.options.sasl || {};
            const plainRefused = sasl.refusePlain !== undefined && offered.includes('PLAIN');
            this.protocolFailure(
              plainRefused
                ? new InsecurePlainError(sasl.refusePlain!)
                : new AmqpError('amqp:unauthorized-access', `SASL negotiation failed: ${choice}.`),
            );
            return;
          }
          this.saslClient = choice;
          this.saslMechanism = choice.name;
          this.writeSaslFrame(compositeSpecs.saslInit, {
            mechanism: choice.name,
            initialResponse: choice.initialResponse(),
            hostname: this.options.hostname,
          });
          return;
        }
        case 'saslChallenge': {
          const response = this.runSaslClient((m) => m.respond(p.challenge));
          if (response) this.writeSaslFrame(compositeSpecs.saslResponse, { response });
          return;
        }
        case 'saslOutcome': {
          const code = p.code;
          // A server that says "ok" must also prove itself, for the mechanisms that can (SCRAM).
          if (code === 0 && !this.runSaslClient((m) => (m.succeeded(p.additionalData), true))) return;
          this.emit({ type: 'saslOutcome', code });
          if (code === 0) this.sendAmqpHeaderAndOpen();
          else this.finish();
          return;
        }
      }
    } else if (p.kind === 'saslInit') {
      if (this.saslMechanism !== undefined)
        throw new DecodeError('a second sasl-init', 0, 'amqp:connection:framing-error');
      this.saslMechanism = p.mechanism;
      this.awaitingSaslOutcome = true;
      this.emit({ type: 'saslInit', mechanism: p.mechanism, initialResponse: p.initialResponse, hostname: p.hostname });
      return;
    } else if (p.kind === 'saslResponse') {
      if (!this.awaitingSaslResponse)
        throw new DecodeError('a sasl-response that answers no challenge', 0, 'amqp:connection:framing-error');
      this.awaitingSaslResponse = false;
      this.emit({ type: 'saslResponse', response: p.response });
      return;
    }
    throw new DecodeError(`unexpected SASL frame ${p.kind}`, 0, 'amqp:connection:framing-error');
  }

  /** Runs a step of the client's mechanism; a failure (a server that cannot prove itself) ends the connection. */
  private runSaslClient<T>(step: (mechanism: SaslClientMechanism) => T): T | undefined {
    const mechanism = this.saslClient;
    if (!mechanism) throw new DecodeError('a SASL frame before our sasl-init', 0, 'amqp:connection:framing-error');
    try {
      return step(mechanism);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.protocolFailure(new AmqpError('amqp:unauthorized-access', message));
      return undefined;
    }
  }

  private sendAmqpHeaderAndOpen(): void {
    this.writeRaw(protocolHeader(ProtocolId.Amqp));
    this.expectedProtocol = ProtocolId.Amqp;
    this.phase = 'header';
    this.sendOpen();
  }

  private sendOpen(): void {
    if (this.openSent) return;
    const o = this.options;
    const fields: OpenFields = {
      containerId: o.containerId,
      hostname: o.hostname,
      maxFrameSize: this.maxFrameSize,
      channelMax: o.channelMax,
      idleTimeOut: o.idleTimeout && o.idleTimeout > 0 ? o.idleTimeout : undefined,
      offeredCapabilities: o.offeredCapabilities,
      desiredCapabilities: o.desiredCapabilities,
      properties: o.properties,
    };
    if (frameLog.enabled) traceFrame('->', 0, { kind: 'open', ...fields }, 0);
    writeFrame(this.out, AMQP_FRAME_TYPE, 0, compositeSpecs.open, fields);
    this.openSent = true;
    if (this.deferred) {
      this.out.bytes(this.deferred.buf.subarray(0, this.deferred.pos));
      this.deferred = undefined;
    }
    this.outputChanged();
  }

  private onOpen(fields: OpenFields): void {
    if (this.remoteState !== 'unopened') throw new DecodeError('a second open', 0, 'amqp:connection:framing-error');
    this.remoteState = 'open';
    this.remoteOpen = fields;
    this.maxOutgoingFrameSize = Math.min(
      Math.max(MIN_MAX_FRAME_SIZE, fields.maxFrameSize ?? 0xffffffff),
      OUTGOING_FRAME_CAP,
    );
    this.remoteIdleTimeout = fields.idleTimeOut ?? 0;
    this.emit({ type: 'connectionRemoteOpen' });
    for (const s of this.localChannels) s?.pump();
  }

  private onClose(fields: { error?: ErrorCondition }): void {
    this.remoteState = 'closed';
    this.remoteError = fields.error;
    if (this.localState !== 'closed') {
      if (!this.openSent) this.sendOpen();
      this.localState = 'closed';
      this.writeFrame(0, compositeSpecs.close, {});
    }
    this.emit({ type: 'connectionRemoteClose', error: fields.error });
    this.finish();
  }

  private onBegin(channel: number, fields: BeginFields): void {
    if (this.remoteChannels.has(channel))
      throw new DecodeError(`a second begin on channel ${channel}`, 0, 'amqp:connection:framing-error');
    const channelMax = this.options.channelMax ?? 65535;
    if (channel > channelMax)
      throw new DecodeError(
        `begin on channel ${channel}, above our channel-max ${channelMax}`,
        0,
        'amqp:connection:framing-error',
      );
    let session: EngineSession | undefined;
    if (fields.remoteChannel !== undefined) {
      session = this.localChannels[fields.remoteChannel];
      if (!session || session.remoteState !== 'unopened') {
        throw new DecodeError(
          `begin answers channel ${fields.remoteChannel}, where we began no session`,
          0,
          'amqp:connection:framing-error',
        );
      }
    } else {
      session = new EngineSession(this, { handleMax: this.options.handleMax });
    }
    session.remoteChannel = channel;
    this.remoteChannels.set(channel, session);
    session.onRemoteBegin(fields);
    this.emit({ type: 'sessionRemoteOpen', session });
    session.pump();
  }

  private onEnd(channel: number, session: EngineSession, fields: { error?: ErrorCondition }): void {
    session.remoteState = 'closed';
    session.remoteError = fields.error;
    this.remoteChannels.delete(channel);
    for (const link of session.links) {
      if (link.remoteState === 'open') {
        link.remoteState = 'closed';
        link.remoteError ??= fields.error;
      }
    }
    if (session.localState === 'open') session.end();
    else this.releaseChannel(session);
    this.emit({ type: 'sessionRemoteClose', session, error: fields.error });
  }

  // ---- Used by sessions ----

  beginSession(session: EngineSession): void {
    if (this.localState !== 'open')
      throw new IllegalStateError('cannot begin a session on a connection that is not open');
    const channelMax = Math.min(this.options.channelMax ?? 65535, this.remoteOpen?.channelMax ?? 65535);
    let channel = 0;
    while (this.localChannels[channel] !== undefined) channel++;
    if (channel > channelMax) {
      throw new AmqpError(
        'amqp:resource-limit-exceeded',
        `All ${channelMax + 1} session channels of the connection are in use (the channel-max of the peer or ours). End a session first, or open another connection.`,
      );
    }
    session.channel = channel;
    session.localState = 'open';
    this.localChannels[channel] = session;
    this.writeFrame(channel, compositeSpecs.begin, session.beginFields());
  }

  endSessionLocally(session: EngineSession): void {
    session.clear();
    // The channel is free again only once the peer has ended the session too. A begin the peer
    // has not answered yet will still be answered (begin, then end) on this channel: a new
    // session there would take those frames for its own.
    if (session.remoteState === 'closed') this.releaseChannel(session);
  }

  private releaseChannel(session: EngineSession): void {
    if (session.channel >= 0 && this.localChannels[session.channel] === session)
      this.localChannels[session.channel] = undefined;
  }

  /** The peer broke a session-level rule: treated as a connection error, which the peer cannot ignore. */
  failSession(_session: EngineSession, error: ErrorCondition): void {
    this.failConnection(error);
  }

  /** Closes the connection with `error` because of what the peer did, and stops reading. */
  failConnection(error: ErrorCondition): void {
    this.protocolFailure(
      new AmqpError(
        error.condition,
        `The peer broke the protocol: ${error.description ?? error.condition}. The connection was closed.`,
        { description: error.description },
      ),
    );
  }

  private failOnInput(err: unknown): void {
    if (err instanceof AmqpError) {
      this.protocolFailure(err);
      return;
    }
    const message = err instanceof Error ? err.message : String(err);
    this.protocolFailure(
      new AmqpError(
        'amqp:internal-error',
        `Quark failed to process the peer's input: ${message}. The connection was closed.`,
        { cause: err },
      ),
    );
  }

  private protocolFailure(error: AmqpError): void {
    if (this.finished) return;
    if (this.phase === 'amqp' && this.localState !== 'closed') {
      if (!this.openSent) this.sendOpen();
      this.localState = 'closed';
      this.localError = { condition: error.condition, description: error.message };
      this.writeFrame(0, compositeSpecs.close, { error: this.localError });
    }
    this.emit({ type: 'protocolError', error });
    this.finish();
  }

  /**
   * Writes one AMQP frame (or keeps it until our open has gone out). A payload given in pieces
   * is the frame's payload in that order: large pieces are referenced, small ones copied.
   */
  writeFrame(channel: number, spec: CompositeSpec, fields: object, payload?: Uint8Array | readonly Uint8Array[]): void {
    if (this.finished) return;
    if (payload !== undefined && !(payload instanceof Uint8Array)) {
      this.writeFrameOfPieces(channel, spec, fields, payload);
      return;
    }
    if (payload !== undefined && payload.length >= BY_REFERENCE_SIZE && this.openSent) {
      // A large payload is not copied: the frame's head goes out of the writer, then the payload itself.
      this.writeFrameOfPieces(channel, spec, fields, [payload]);
      return;
    }
    if (frameLog.enabled) traceFrame('->', channel, { kind: spec.name, ...fields }, payload?.length ?? 0);
    if (!this.openSent) {
      writeFrame((this.deferred ??= new ByteWriter(1024)), AMQP_FRAME_TYPE, channel, spec, fields, payload);
      return;
    }
    writeFrame(this.out, AMQP_FRAME_TYPE, channel, spec, fields, payload);
    this.outputChanged();
  }

  /** A frame whose payload is `pieces` in order: pieces of BY_REFERENCE_SIZE or more are referenced, not copied. */
  private writeFrameOfPieces(
    channel: number,
    spec: CompositeSpec,
    fields: object,
    pieces: readonly Uint8Array[],
  ): void {
    let size = 0;
    for (const piece of pieces) size += piece.length;
    if (frameLog.enabled) traceFrame('->', channel, { kind: spec.name, ...fields }, size);
    if (!this.openSent) {
      writeFrame(
        (this.deferred ??= new ByteWriter(1024)),
        AMQP_FRAME_TYPE,
        channel,
        spec,
        fields,
        Buffer.concat(pieces, size),
      );
      return;
    }
    const start = this.out.pos;
    writeFrame(this.out, AMQP_FRAME_TYPE, channel, spec, fields);
    this.out.patchU32(start, this.out.pos - start + size);
    for (const piece of pieces) {
      if (piece.length < BY_REFERENCE_SIZE) {
        this.out.bytes(piece);
        continue;
      }
      this.sealOutput();
      this.chunks.push(Buffer.isBuffer(piece) ? piece : Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength));
    }
    this.outputChanged();
  }

  /**
   * Writes a transfer frame whose payload `encode` writes straight into the output (no copy of
   * the message). Returns undefined when written; when the payload exceeds `maxPayload`, writes
   * nothing and returns the encoded payload (for the caller to send in several frames). What
   * `encode` throws is rethrown with nothing written.
   */
  writeTransferDirect(
    channel: number,
    fields: TransferFields,
    encode: (w: ByteWriter) => void,
    maxPayload: number,
  ): Uint8Array | undefined {
    const w = this.out;
    const start = w.pos;
    writeFrame(w, AMQP_FRAME_TYPE, channel, compositeSpecs.transfer, fields);
    const payloadStart = w.pos;
    try {
      encode(w);
    } catch (e) {
      w.pos = start;
      throw e;
    }
    if (w.pos - payloadStart > maxPayload) {
      const payload = Buffer.from(w.buf.subarray(payloadStart, w.pos));
      w.pos = start;
      return payload;
    }
    w.patchU32(start, w.pos - start);
    if (frameLog.enabled) traceFrame('->', channel, { kind: 'transfer', ...fields }, w.pos - payloadStart);
    this.outputChanged();
    return undefined;
  }

  private writeSaslFrame(spec: CompositeSpec, fields: object): void {
    if (frameLog.enabled) traceFrame('->', 0, { kind: spec.name, ...fields }, 0);
    writeFrame(this.out, SASL_FRAME_TYPE, 0, spec, fields);
    this.outputChanged();
  }

  private writeRaw(bytes: Uint8Array): void {
    this.out.bytes(bytes);
    this.outputChanged();
  }

  /** The transport holds the waiting output for now (see `deferrableAcknowledgements`): tell it again of the next change. */
  outputHeld(): void {
    this.outputSignaled = false;
  }

  /** Notes that output is waiting; tells the transport once per `takeOutput()`. */
  outputChanged(): void {
    if (this.outputSignaled) return;
    this.outputSignaled = true;
    this.onOutput?.();
  }

  /**
   * Delivers an event now, while the engine's state is exactly what the event reports (e.g. a
   * receiver's credit counts only the deliveries already delivered). Events raised by a listener
   * while it handles one are queued and delivered, in order, right after it returns.
   */
  emit(event: EngineEvent): void {
    if (this.dispatching) {
      this.events.push(event);
      return;
    }
    // The common case, no listener raising events of its own: no queue (emptying an array frees
    // its store, so a push per event would allocate one per event).
    this.dispatching = true;
    try {
      this.onEvent?.(event);
      const queued = this.events;
      for (let i = 0; i < queued.length; i++) this.onEvent?.(queued[i]!);
    } finally {
      if (this.events.length > 0) this.events.length = 0;
      this.dispatching = false;
    }
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.phase = 'done';
    this.stash = undefined;
    this.parts = undefined;
    for (const s of this.sessions) s.clear();
    this.emit({ type: 'connectionFinal' });
    this.outputChanged();
  }

  /** Delivers queued events to `onEvent`. Events raised while delivering are delivered in the same loop. */
  dispatch(): void {
    if (this.dispatching) return;
    this.dispatching = true;
    try {
      for (let i = 0; i < this.events.length; i++) this.onEvent?.(this.events[i]!);
    } finally {
      this.events.length = 0;
      this.dispatching = false;
    }
  }

  // ---- Output and time ----

  /** How many links the peer has attached now, over all sessions (no allocation: it is asked per attach). */
  get remoteLinkCount(): number {
    let n = 0;
    for (const s of this.remoteChannels.values()) n += s.remoteLinkCount;
    return n;
  }

  /**
   * What waits to be written, for a transport that batches acknowledgements: the number of
   * received deliveries whose settlement (a disposition) is all that waits, which may wait a
   * little for more to go out in the same frame; -1 when anything else waits (it goes out now,
   * and they with it); 0 when nothing does.
   */
  get deferrableAcknowledgements(): number {
    if (this.out.pos > 0 || this.chunks.length > 0 || !this.canWriteFrames) return -1;
    let n = 0;
    for (const s of this.localChannels) {
      if (s === undefined) continue;
      const waiting = s.waitingAcknowledgements;
      if (waiting < 0) return -1;
      n += waiting;
    }
    return n;
  }

  /** Everything to send now, coalesced (flows, drains and dispositions of this turn included), or undefined. */
  takeOutput(): Buffer | undefined {
    const chunks = this.takeOutputChunks();
    if (chunks === undefined) return undefined;
    return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
  }

  /**
   * Everything to send now, as buffers to write in order (one write with writev): large transfer
   * payloads are referenced, not copied into the output. Undefined when there is nothing to send.
   */
  takeOutputChunks(): Buffer[] | undefined {
    this.outputSignaled = false;
    if (this.openSent && !this.finished) for (const s of this.localChannels) s?.flush();
    this.sealOutput();
    this.takenCallbacks = this.writtenCallbacks;
    this.writtenCallbacks = undefined;
    if (this.chunks.length === 0) return undefined;
    this.outputSeen = true;
    const chunks = this.chunks;
    this.chunks = [];
    return chunks;
  }

  /** Queues `callback` to run once the output that now holds a delivery's last frame has been written. */
  afterOutputWritten(callback: () => void): void {
    (this.writtenCallbacks ??= []).push(callback);
  }

  /**
   * The callbacks (see `SendOptions.onWritten`) of deliveries whose last frame is in the output
   * the last `takeOutputChunks()` returned: call them once it has been written. Callbacks nobody
   * takes are dropped with the next `takeOutputChunks()` (their buffers are then simply not reused).
   */
  takeWrittenCallbacks(): (() => void)[] | undefined {
    const callbacks = this.takenCallbacks;
    this.takenCallbacks = undefined;
    return callbacks;
  }

  /** Moves what the writer holds to the output chunks. */
  private sealOutput(): void {
    const w = this.out;
    if (w.pos === 0) return;
    if (w.pos > HANDOFF_SIZE) {
      this.chunks.push(w.buf.subarray(0, w.pos));
      w.buf = Buffer.allocUnsafe(16384);
      w.view = new DataView(w.buf.buffer, w.buf.byteOffset, w.buf.byteLength);
    } else {
      this.chunks.push(w.toBuffer());
    }
    w.reset();
  }

  /**
   * Moves the engine's clock to `now` (milliseconds, any monotonic origin): detects a silent peer
   * and writes the empty frames that keep the peer's idle timeout from expiring. Returns when
   * `tick` should next be called, or undefined when no timer is needed.
   */
  tick(now: number): number | undefined {
    if (this.finished) return undefined;
    if (this.inputSeen || this.lastInput < 0) this.lastInput = now;
    if (this.outputSeen || this.lastOutput < 0) this.lastOutput = now;
    this.inputSeen = false;
    this.outputSeen = false;
    let next: number | undefined;
    const localIdle = this.options.idleTimeout ?? 0;
    if (localIdle > 0 && this.remoteState === 'open') {
      if (now - this.lastInput >= localIdle) {
        this.emit({ type: 'idleTimeout' });
        this.protocolFailure(
          new AmqpError(
            'amqp:resource-limit-exceeded',
            `The peer sent nothing for ${localIdle} ms (our idle timeout); the connection was closed.`,
          ),
        );
        this.dispatch();
        return undefined;
      }
      next = this.lastInput + localIdle;
    }
    if (this.remoteIdleTimeout > 0 && this.openSent && this.phase === 'amqp') {
      const interval = this.remoteIdleTimeout / 2;
      if (now - this.lastOutput >= interval) {
        writeEmptyFrame(this.out);
        this.outputChanged();
        this.lastOutput = now;
      }
      const due = this.lastOutput + interval;
      next = next === undefined ? due : Math.min(next, due);
    }
    if (next !== undefined) {
      // Activity is only noticed at ticks, so tick often enough to see silence (or send a
      // heartbeat) within a quarter of the shorter timeout of lateness.
      const shortest = Math.min(
        localIdle > 0 ? localIdle : Infinity,
        this.remoteIdleTimeout > 0 ? this.remoteIdleTimeout : Infinity,
      );
      next = Math.min(next, now + shortest / 4);
    }
    this.dispatch();
    return next;
  }
}
