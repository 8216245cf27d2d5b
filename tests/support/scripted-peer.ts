/**
 * A scripted AMQP peer for tests, in the style of Qpid protonj2's test peer: a test writes the
 * conversation it expects (`expectOpen().respond()`, `remoteFlow({ linkCredit: 10 })`, ...) and
 * the peer plays it against Quark, checking every frame Quark sends against the script.
 *
 * The same script runs in memory against a {@link ProtocolEngine} (`ScriptedPeer.inMemory`,
 * driven synchronously with `pump()`) or over a real TCP socket on 127.0.0.1 against the client
 * API (`ScriptedPeer.listen`). The peer decodes with the codec's frame functions and writes with
 * `writeFrame`; it can also write raw bytes (malformed frames) and cut its output at any byte.
 *
 * Script semantics: entries run in order. An action (`remote*`, `dropConnection`) runs as soon as
 * every entry before it is done. An expectation waits for the next frame Quark sends; its
 * responses run when it matches. A frame that does not match the expectation at the head of the
 * script is a script failure, unless its kind was declared ignorable with `ignore()` (empty
 * frames are ignorable by default) or the expectation is `optional()`.
 *
 * Every test verifies its peers' scripts without asking: after each test, a peer whose script has
 * a step not run, or that saw a frame the script did not expect, fails the test (as protonj2's
 * `waitForScriptToComplete` at the end of every test). A listening peer is judged when the test
 * closes it (before what the test's cleanup makes Quark send, such as its close) or, if the test
 * did not, after the test, and then closed.
 */
import net from 'node:net';
import { afterEach } from 'vitest';
import { ByteWriter } from '../../src/codec/byte-writer.js';
import type { DeliveryState, ErrorCondition, Source, Target } from '../../src/codec/composite-types.js';
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
import { encodeMessage, type Message } from '../../src/codec/message.js';
import { compositeSpecs, type CompositeSpec } from '../../src/codec/spec-tables.js';
import type { ProtocolEngine } from '../../src/engine/engine.js';

/** A performative as decoded: its fields and `kind`. */
export type Performative = { kind: string } & Record<string, unknown>;

/** One thing Quark sent: a protocol header, an empty frame, or a frame with a performative. */
export interface ReceivedFrame {
  /** `header` for a protocol header, `empty` for an empty frame, else the performative's kind (`open`, `transfer`, `saslInit`, ...). */
  kind: string;
  channel: number;
  /** 0 (AMQP) or 1 (SASL); -1 for a protocol header. */
  frameType: number;
  performative: Performative | undefined;
  payload: Buffer | undefined;
  /** For a protocol header: its protocol id. */
  protocolId?: number;
  /** When it arrived (performance.now()). */
  at?: number;
}

/**
 * Expected field values: each key must be present with an equal value (bytes compared by
 * content, objects compared on the keys given), `undefined` means absent, and a function is a
 * predicate on the actual value.
 */
export type FieldMatcher = Record<string, unknown>;

type Entry =
  | {
      type: 'expect';
      what: string;
      match: (f: ReceivedFrame) => string | undefined;
      responses: ((f: ReceivedFrame) => void)[];
      optional: boolean;
    }
  | { type: 'action'; what: string; run: () => void };

interface PeerLink {
  name: string;
  /** Our handle: we mirror Quark's. */
  handle: number;
  /** Our role on the link. */
  role: 'sender' | 'receiver';
  deliveryCount: number;
  /** The credit Quark last granted us (when we send). */
  credit: number;
  /** The delivery id of the multi-frame delivery in progress (ours or Quark's), or -1. */
  currentDeliveryId: number;
  nextTag: number;
}

interface PeerSession {
  /** Our channel: we mirror Quark's. */
  channel: number;
  nextOutgoingId: number;
  nextIncomingId: number;
  incomingWindow: number;
  outgoingWindow: number;
  nextDeliveryId: number;
  links: Map<number, PeerLink>;
}

/** How the peer cuts what it writes. */
export interface SplitOptions {
  /** Write in pieces of at most this many bytes. */
  every?: number | undefined;
  /** Cut at these offsets of the peer's whole output stream (counted from its first byte). */
  at?: number[] | undefined;
}

export interface FlowOptions {
  channel?: number | undefined;
  handle?: number | undefined;
  nextIncomingId?: number | undefined;
  incomingWindow?: number | undefined;
  nextOutgoingId?: number | undefined;
  outgoingWindow?: number | undefined;
  deliveryCount?: number | undefined;
  linkCredit?: number | undefined;
  available?: number | undefined;
  drain?: boolean | undefined;
  echo?: boolean | undefined;
}

export interface TransferOptions {
  channel?: number | undefined;
  handle?: number | undefined;
  deliveryId?: number | undefined;
  deliveryTag?: Uint8Array | undefined;
  messageFormat?: number | undefined;
  settled?: boolean | undefined;
  more?: boolean | undefined;
  aborted?: boolean | undefined;
  rcvSettleMode?: number | undefined;
  state?: DeliveryState | undefined;
  /** The payload bytes; or give `message` to send an encoded message. */
  payload?: Uint8Array | undefined;
  message?: Message | undefined;
}

export interface DispositionOptions {
  channel?: number | undefined;
  /** true: we are the receiver (settling Quark's sends). Default: from the current link's role. */
  role?: boolean | undefined;
  first: number;
  last?: number | undefined;
  settled?: boolean | undefined;
  state?: DeliveryState | undefined;
}

const DEFAULT_WINDOW = 2048;
const ACCEPTED: DeliveryState = { kind: 'accepted' };

/** The peers made during the running test, verified (and closed) after it. */
const peersOfThisTest = new Set<ScriptedPeer>();

afterEach(async () => {
  const problems: string[] = [];
  for (const peer of [...peersOfThisTest]) {
    peersOfThisTest.delete(peer);
    const problem = peer.verdict();
    await peer.close();
    if (problem !== undefined) problems.push(problem);
  }
  if (problems.length > 0) throw new Error(problems.join('\n'));
});

export class ScriptedPeer {
  /** Every frame Quark sent, in order. */
  readonly received: ReceivedFrame[] = [];
  /** Script failures (mismatches, unexpected frames, malformed input), in order. */
  readonly failures: string[] = [];
  /** The TCP port (listening peers only). */
  port = 0;

  private readonly script: Entry[] = [];
  private readonly ignored = new Set<string>(['empty']);
  private autoAccept = false;
  private readonly sessions = new Map<number, PeerSession>();
  private lastSession: PeerSession | undefined;
  private lastLink: PeerLink | undefined;
  private input: Buffer = Buffer.alloc(0);
  private pendingOut: Buffer[] = [];
  private batchDepth = 0;
  private outOffset = 0;
  private split: SplitOptions = {};
  private readonly waiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private readonly frameWatchers = new Set<() => void>();
  /** Where the peer's bytes go; undefined until connected. */
  private sink: ((bytes: Buffer) => void) | undefined;
  private endSink: (() => void) | undefined;
  private engine: ProtocolEngine | undefined;
  private server: net.Server | undefined;
  private socket: net.Socket | undefined;
  private socketClosedPromise: Promise<void> | undefined;
  private connectedResolve: (() => void) | undefined;
  /** Resolves when Quark's socket connects (listening peers). */
  readonly connected: Promise<void>;

  /** What was wrong with the script when the test closed the peer (undefined: all well, or not closed yet). */
  private verdictAtClose: { problem: string | undefined } | undefined;

  private constructor() {
    this.connected = new Promise<void>((resolve) => (this.connectedResolve = resolve));
    peersOfThisTest.add(this);
  }

  // ---- Transports ----

  /**
   * A peer wired to `engine` in memory: what the peer writes is ingested at once; call `pump()`
   * to hand the engine's output to the peer (and the answers back) until both are quiet.
   */
  static inMemory(engine: ProtocolEngine): ScriptedPeer {
    const peer = new ScriptedPeer();
    peer.engine = engine;
    peer.sink = (bytes) => engine.ingest(bytes);
    peer.endSink = () => engine.ingestEnd();
    peer.connectedResolve?.();
    return peer;
  }

  /** A peer listening on 127.0.0.1 (a free port); it plays its script with the first connection. */
  static async listen(): Promise<ScriptedPeer> {
    const peer = new ScriptedPeer();
    const server = net.createServer((socket) => peer.onSocket(socket));
    peer.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    peer.port = (server.address() as net.AddressInfo).port;
    return peer;
  }

  /** `amqp://127.0.0.1:<port>` of a listening peer. */
  get url(): string {
    return `amqp://127.0.0.1:${this.port}`;
  }

  private onSocket(socket: net.Socket): void {
    if (this.socket) {
      this.failures.push('a second connection arrived; the scripted peer serves one');
      socket.destroy();
      return;
    }
    this.socket = socket;
    socket.setNoDelay(true);
    this.socketClosedPromise = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    this.sink = (bytes) => {
      if (!socket.destroyed && socket.writable) socket.write(bytes);
    };
    this.endSink = () => socket.destroy();
    socket.on('data', (chunk: Buffer) => this.onInput(chunk));
    socket.on('end', () => socket.end());
    socket.on('error', () => undefined);
    this.connectedResolve?.();
    this.runActions();
  }

  /** Memory peers: moves bytes both ways until neither side has more. Returns the bytes Quark sent. */
  pump(): number {
    const engine = this.engine;
    if (!engine) throw new Error('pump() is for in-memory peers');
    let moved = 0;
    for (let round = 0; round < 10_000; round++) {
      const out = engine.takeOutput();
      if (!out) return moved;
      moved += out.length;
      this.onInput(Buffer.from(out));
    }
    throw new Error('the engine kept talking for 10,000 rounds');
  }

  /** Closes the socket and the listening server (listening peers); waits until both are gone. The script is judged first. */
  async close(): Promise<void> {
    this.verdictAtClose ??= { problem: this.problem() };
    this.socket?.destroy();
    await this.socketClosedPromise;
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Resolves when the connection's socket has closed (listening peers). */
  get socketClosed(): Promise<void> {
    return this.connected.then(() => this.socketClosedPromise);
  }

  // ---- Script control ----

  /** Frames of these kinds (`empty`, `flow`, ...) that the script does not expect are skipped, not failures. */
  ignore(...kinds: string[]): this {
    for (const k of kinds) this.ignored.add(k);
    return this;
  }

  /**
   * Transfers the script does not expect are settled as accepted when their last frame arrives
   * (for tests where several links send in an order the test does not fix).
   */
  acceptTransfers(): this {
    this.autoAccept = true;
    this.ignored.add('transfer');
    return this;
  }

  /** Cuts everything the peer writes from now on. */
  splitOutput(options: SplitOptions): this {
    this.split = options;
    return this;
  }

  /** True when every entry of the script has run and nothing failed. */
  get scriptComplete(): boolean {
    return this.script.length === 0 && this.failures.length === 0;
  }

  /** Throws when the script is not complete (for in-memory peers, after `pump()`). */
  assertScriptComplete(): void {
    const problem = this.problem();
    if (problem !== undefined) throw new Error(problem);
  }

  /** @internal What is wrong with the script (a failure, or a step not run), as of when the test closed the peer or now. */
  verdict(): string | undefined {
    return this.verdictAtClose === undefined ? this.problem() : this.verdictAtClose.problem;
  }

  private problem(): string | undefined {
    if (this.failures.length > 0) return `scripted peer: ${this.failures.join('; ')}${this.receivedSummary()}`;
    if (this.script.length > 0)
      return `scripted peer: script not complete; next: ${this.script.map((e) => e.what).join(', ')}${this.receivedSummary()}`;
    return undefined;
  }

  /** Resolves once every entry of the script has run; rejects on a failure or after `timeout` ms. */
  waitForScriptToComplete(timeout = 5000): Promise<void> {
    if (this.failures.length > 0 || this.script.length === 0) {
      try {
        this.assertScriptComplete();
        return Promise.resolve();
      } catch (e) {
        return Promise.reject(e as Error);
      }
    }
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(w);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(
          new Error(
            `scripted peer: script not complete after ${timeout} ms; next: ${this.script.map((e) => e.what).join(', ')}${this.receivedSummary()}`,
          ),
        );
      }, timeout);
      const w = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.waiters.push(w);
    });
  }

  /** Resolves when `predicate` holds for the frames received so far (checked on every frame). */
  waitForFrames(predicate: (frames: ReceivedFrame[]) => boolean, timeout = 5000): Promise<void> {
    if (predicate(this.received)) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (!predicate(this.received)) return;
        this.frameWatchers.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.frameWatchers.delete(check);
        reject(new Error(`scripted peer: frames did not arrive within ${timeout} ms${this.receivedSummary()}`));
      }, timeout);
      this.frameWatchers.add(check);
    });
  }

  /** The performatives Quark sent of one kind. */
  frames(kind: string): Performative[] {
    return this.received.filter((f) => f.kind === kind).map((f) => f.performative!);
  }

  private receivedSummary(): string {
    const tail = this.received
      .slice(-12)
      .map((f) => f.kind)
      .join(' ');
    return ` (received: ${tail || 'nothing'})`;
  }

  // ---- Expectations ----

  /** Quark's SASL header: answered with ours and the mechanisms offered. */
  expectSaslHeader(): HeaderExpectation {
    return new HeaderExpectation(this, ProtocolId.Sasl);
  }

  /** Quark's AMQP header (after SASL, or without it): `respond()` answers with ours. */
  expectAmqpHeader(): HeaderExpectation {
    return new HeaderExpectation(this, ProtocolId.Amqp);
  }

  /** The whole SASL ANONYMOUS exchange, up to and including the AMQP headers. */
  expectSaslAnonymous(): this {
    this.expectSaslHeader().respond(['ANONYMOUS']);
    this.expectSaslInit({ mechanism: 'ANONYMOUS' }).respond(0);
    this.expectAmqpHeader().respond();
    return this;
  }

  /** The whole SASL PLAIN exchange: the initial response must be exactly `\0user\0password` in UTF-8. */
  expectSaslPlain(username: string, password: string): this {
    this.expectSaslHeader().respond(['PLAIN', 'ANONYMOUS']);
    this.expectSaslInit({
      mechanism: 'PLAIN',
      initialResponse: Buffer.from(`\u0000${username}\u0000${password}`, 'utf8'),
    }).respond(0);
    this.expectAmqpHeader().respond();
    return this;
  }

  /** A SASL exchange that fails with outcome `code` (1 auth, 2 sys, ...). */
  expectSaslFailure(code = 1, mechanisms: string[] = ['PLAIN', 'ANONYMOUS']): this {
    this.expectSaslHeader().respond(mechanisms);
    this.expectSaslInit({}).respond(code);
    return this;
  }

  expectSaslInit(match: FieldMatcher = {}): SaslInitExpectation {
    return new SaslInitExpectation(this, match);
  }

  expectOpen(match: FieldMatcher = {}): OpenExpectation {
    return new OpenExpectation(this, match);
  }

  expectBegin(match: FieldMatcher = {}): BeginExpectation {
    return new BeginExpectation(this, match);
  }

  expectAttach(match: FieldMatcher = {}): AttachExpectation {
    return new AttachExpectation(this, match);
  }

  expectFlow(match: FieldMatcher = {}): FlowExpectation {
    return new FlowExpectation(this, match);
  }

  expectTransfer(
    match: FieldMatcher & { payload?: Uint8Array | string | ((p: Buffer | undefined) => boolean) } = {},
  ): TransferExpectation {
    return new TransferExpectation(this, match);
  }

  expectDisposition(match: FieldMatcher = {}): Expectation {
    return new Expectation(this, 'disposition', match);
  }

  expectDetach(match: FieldMatcher = {}): DetachExpectation {
    return new DetachExpectation(this, match);
  }

  expectEnd(match: FieldMatcher = {}): EndExpectation {
    return new EndExpectation(this, match);
  }

  expectClose(match: FieldMatcher = {}): CloseExpectation {
    return new CloseExpectation(this, match);
  }

  /** An empty frame (a heartbeat). Note: empty frames are ignorable by default elsewhere in the script. */
  expectEmptyFrame(): Expectation {
    return new Expectation(this, 'empty', {});
  }

  // ---- Actions (run when the script reaches them) ----

  /** Writes a frame. */
  remoteFrame(
    spec: CompositeSpec,
    fields: object,
    options: { channel?: number; payload?: Uint8Array; frameType?: number } = {},
  ): this {
    return this.action(`write ${spec.name}`, () => this.writeFrameNow(spec, fields, options));
  }

  /** Writes raw bytes (a malformed frame, a protocol header, anything). */
  remoteBytes(bytes: Uint8Array): this {
    return this.action(`write ${bytes.length} raw bytes`, () => this.write(Buffer.from(bytes)));
  }

  remoteHeader(protocolId: ProtocolId): this {
    return this.action(`write header ${protocolId}`, () => this.write(Buffer.from(protocolHeader(protocolId))));
  }

  remoteEmptyFrame(): this {
    return this.action('write an empty frame', () => this.writeEmptyFrameNow());
  }

  remoteSaslMechanisms(mechanisms: string[]): this {
    return this.action('write sasl-mechanisms', () =>
      this.writeFrameNow(
        compositeSpecs.saslMechanisms,
        { saslServerMechanisms: mechanisms },
        { frameType: SASL_FRAME_TYPE },
      ),
    );
  }

  remoteSaslInit(mechanism: string, initialResponse?: Uint8Array): this {
    return this.action('write sasl-init', () =>
      this.writeFrameNow(compositeSpecs.saslInit, { mechanism, initialResponse }, { frameType: SASL_FRAME_TYPE }),
    );
  }

  remoteSaslOutcome(code: number): this {
    return this.action(`write sasl-outcome ${code}`, () =>
      this.writeFrameNow(compositeSpecs.saslOutcome, { code }, { frameType: SASL_FRAME_TYPE }),
    );
  }

  remoteOpen(fields: FieldMatcher = {}): this {
    return this.action('write open', () =>
      this.writeFrameNow(compositeSpecs.open, { containerId: 'scripted-peer', ...fields }),
    );
  }

  /** Begins a session on `channel` (default 0) as the initiator. */
  remoteBegin(fields: FieldMatcher & { channel?: number } = {}): this {
    return this.action('write begin', () => {
      const { channel = 0, ...rest } = fields;
      const s = this.addSession(channel, (rest['incomingWindow'] as number | undefined) ?? DEFAULT_WINDOW, 0);
      this.writeFrameNow(
        compositeSpecs.begin,
        {
          nextOutgoingId: s.nextOutgoingId,
          incomingWindow: s.incomingWindow,
          outgoingWindow: s.outgoingWindow,
          ...rest,
        },
        { channel },
      );
    });
  }

  /** Attaches a link as the initiator: `role` is ours. */
  remoteAttach(
    fields: {
      name: string;
      handle: number;
      role: 'sender' | 'receiver';
      channel?: number;
      source?: Source;
      target?: Target;
      initialDeliveryCount?: number;
    } & FieldMatcher,
  ): this {
    return this.action(`write attach ${fields.name}`, () => {
      const { channel = this.currentSession().channel, role, ...rest } = fields;
      const s = this.sessionOn(channel);
      this.addLink(s, fields.name, fields.handle, role, 0);
      this.writeFrameNow(
        compositeSpecs.attach,
        { initialDeliveryCount: role === 'sender' ? 0 : undefined, ...rest, role: role === 'receiver' },
        { channel },
      );
    });
  }

  /** A flow: session fields from what the peer tracked, link fields for the current (or given) link. */
  remoteFlow(options: FlowOptions = {}): this {
    return this.action('write flow', () => this.writeFlowNow(options, false));
  }

  /** A session-only flow (no handle). */
  remoteSessionFlow(
    options: Omit<FlowOptions, 'handle' | 'deliveryCount' | 'linkCredit' | 'available' | 'drain'> = {},
  ): this {
    return this.action('write session flow', () => this.writeFlowNow(options, true));
  }

  /** A transfer frame on the current (or given) link; the delivery id and tag are filled in for a delivery's first frame. */
  remoteTransfer(options: TransferOptions = {}): this {
    return this.action('write transfer', () => this.writeTransferNow(options));
  }

  /** A whole message in one transfer frame. */
  remoteMessage(message: Message, options: Omit<TransferOptions, 'message' | 'payload'> = {}): this {
    return this.remoteTransfer({ ...options, message });
  }

  remoteDisposition(options: DispositionOptions): this {
    return this.action(`write disposition ${options.first}..${options.last ?? options.first}`, () =>
      this.writeDispositionNow(options),
    );
  }

  remoteDetach(options: { channel?: number; handle?: number; closed?: boolean; error?: ErrorCondition } = {}): this {
    return this.action('write detach', () => {
      const link =
        options.handle !== undefined ? this.currentSession(options.channel).links.get(options.handle) : this.lastLink;
      this.writeFrameNow(
        compositeSpecs.detach,
        { handle: options.handle ?? link?.handle ?? 0, closed: options.closed ?? true, error: options.error },
        { channel: options.channel ?? this.currentSession().channel },
      );
    });
  }

  remoteEnd(options: { channel?: number; error?: ErrorCondition } = {}): this {
    return this.action('write end', () =>
      this.writeFrameNow(
        compositeSpecs.end,
        { error: options.error },
        { channel: options.channel ?? this.currentSession().channel },
      ),
    );
  }

  remoteClose(options: { error?: ErrorCondition } = {}): this {
    return this.action('write close', () => this.writeFrameNow(compositeSpecs.close, { error: options.error }));
  }

  /** Drops the connection without a close: destroys the socket (TCP) or ends the engine's input (memory). */
  dropConnection(): this {
    return this.action('drop the connection', () => {
      this.flushOut();
      this.endSink?.();
    });
  }

  /** Runs `fn` when the script reaches this point (to change state or count). */
  run(what: string, fn: () => void): this {
    return this.action(what, fn);
  }

  // ---- Internals used by expectations ----

  /** @internal */
  addEntry(entry: Entry): void {
    this.script.push(entry);
    this.runActions();
  }

  private action(what: string, run: () => void): this {
    this.addEntry({ type: 'action', what, run });
    return this;
  }

  /** Runs the actions at the head of the script, when connected. */
  private runActions(): void {
    if (this.sink === undefined || this.batchDepth > 0) return;
    this.batch(() => undefined);
  }

  private batch(fn: () => void): void {
    this.batchDepth++;
    try {
      fn();
      while (this.script.length > 0 && this.script[0]!.type === 'action' && this.failures.length === 0) {
        const entry = this.script.shift() as Extract<Entry, { type: 'action' }>;
        entry.run();
      }
    } catch (e) {
      this.failures.push(`the peer failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    } finally {
      this.batchDepth--;
    }
    if (this.batchDepth === 0) {
      this.flushOut();
      this.settleWaiters();
    }
  }

  private settleWaiters(): void {
    if (this.failures.length > 0) {
      const e = new Error(`scripted peer: ${this.failures.join('; ')}${this.receivedSummary()}`);
      for (const w of this.waiters.splice(0)) w.reject(e);
    } else if (this.script.length === 0) {
      for (const w of this.waiters.splice(0)) w.resolve();
    }
  }

  private onInput(chunk: Buffer): void {
    this.input = this.input.length === 0 ? chunk : Buffer.concat([this.input, chunk]);
    this.batch(() => {
      let pos = 0;
      const buf = this.input;
      while (buf.length - pos >= 8) {
        if (buf[pos] === 0x41 && buf[pos + 1] === 0x4d && buf[pos + 2] === 0x51 && buf[pos + 3] === 0x50) {
          this.onFrame({
            kind: 'header',
            channel: 0,
            frameType: -1,
            performative: undefined,
            payload: undefined,
            protocolId: buf[pos + 4]!,
          });
          pos += 8;
          continue;
        }
        let header;
        try {
          header = readFrameHeader(buf, pos, 0x7fffffff);
        } catch (e) {
          this.failures.push(`Quark sent a malformed frame header: ${(e as Error).message}`);
          pos = buf.length;
          break;
        }
        if (!header || buf.length - pos < header.size) break;
        let frame;
        try {
          frame = decodeFrame(buf, pos, header);
        } catch (e) {
          this.failures.push(`Quark sent a frame that does not decode: ${(e as Error).message}`);
          pos += header.size;
          continue;
        }
        const p = frame.performative as unknown as Performative | undefined; // scripts read fields by name
        this.onFrame({
          kind: p ? p.kind : 'empty',
          channel: frame.channel,
          frameType: frame.type,
          performative: p,
          payload: frame.payload ? Buffer.from(frame.payload) : undefined,
        });
        pos += header.size;
      }
      this.input = pos >= buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(pos));
    });
  }

  private onFrame(frame: ReceivedFrame): void {
    frame.at = performance.now();
    this.received.push(frame);
    this.track(frame);
    for (const w of [...this.frameWatchers]) w();
    if (this.failures.length > 0) return;
    // Actions at the head have run; find the expectation this frame answers.
    let i = 0;
    while (i < this.script.length) {
      const entry = this.script[i]!;
      if (entry.type !== 'expect') break;
      const mismatch = entry.match(frame);
      if (mismatch === undefined) {
        this.script.splice(0, i + 1);
        for (const respond of entry.responses) respond(frame);
        // Actions queued after the expectation run now.
        while (this.script.length > 0 && this.script[0]!.type === 'action' && this.failures.length === 0) {
          const next = this.script.shift() as Extract<Entry, { type: 'action' }>;
          next.run();
        }
        return;
      }
      if (!entry.optional) {
        if (this.ignored.has(frame.kind)) return this.onIgnored(frame);
        this.failures.push(`expected ${entry.what}, got ${describeFrame(frame)}: ${mismatch}`);
        return;
      }
      i++;
    }
    if (this.ignored.has(frame.kind)) return this.onIgnored(frame);
    this.failures.push(
      `unexpected ${describeFrame(frame)}${this.script.length === 0 ? ' after the end of the script' : ` while waiting to run ${this.script[0]!.what}`}`,
    );
  }

  private onIgnored(frame: ReceivedFrame): void {
    const p = frame.performative;
    if (!this.autoAccept || frame.kind !== 'transfer' || p?.['more'] || p?.['aborted'] || p?.['settled']) return;
    this.writeDispositionNow({
      channel: frame.channel,
      role: true,
      first: ScriptedPeer.deliveryIdOf(frame),
      settled: true,
      state: ACCEPTED,
    });
  }

  /** Keeps the session and link state the defaults of our frames come from. */
  private track(frame: ReceivedFrame): void {
    const p = frame.performative;
    if (!p) return;
    const s = this.sessions.get(frame.channel);
    switch (p.kind) {
      case 'begin': {
        const existing = this.sessions.get(frame.channel);
        if (existing) existing.nextIncomingId = p['nextOutgoingId'] as number;
        return;
      }
      case 'attach': {
        if (!s) return;
        const quarkRole = p['role'] ? 'receiver' : 'sender';
        const existing = s.links.get(p['handle'] as number);
        if (existing && existing.name === p['name']) {
          // Answering our attach.
          if (existing.role === 'receiver')
            existing.deliveryCount = (p['initialDeliveryCount'] as number | undefined) ?? 0;
          return;
        }
        this.addLink(
          s,
          p['name'] as string,
          p['handle'] as number,
          quarkRole === 'sender' ? 'receiver' : 'sender',
          (p['initialDeliveryCount'] as number | undefined) ?? 0,
        );
        return;
      }
      case 'transfer': {
        if (!s) return;
        s.nextIncomingId = (s.nextIncomingId + 1) >>> 0;
        const link = s.links.get(p['handle'] as number);
        if (!link) return;
        if (link.currentDeliveryId < 0 && p['deliveryId'] !== undefined) {
          link.deliveryCount = (link.deliveryCount + 1) >>> 0;
          link.credit = Math.max(0, link.credit - 1);
        }
        if (p['deliveryId'] !== undefined) link.currentDeliveryId = p['deliveryId'] as number;
        (frame as ReceivedFrame & { deliveryId?: number }).deliveryId = link.currentDeliveryId;
        if (!p['more'] || p['aborted']) link.currentDeliveryId = -1;
        return;
      }
      case 'flow': {
        if (!s || p['handle'] === undefined) return;
        const link = s.links.get(p['handle'] as number);
        if (link && link.role === 'sender') {
          // Quark is the receiver: its credit, from its delivery count.
          const dc = (p['deliveryCount'] as number | undefined) ?? link.deliveryCount;
          link.credit = Math.max(
            0,
            (((dc + ((p['linkCredit'] as number | undefined) ?? 0)) >>> 0) - link.deliveryCount) | 0,
          );
        }
        return;
      }
      case 'end':
        return;
    }
  }

  /** @internal The delivery id a received transfer frame belongs to (continuation frames included). */
  static deliveryIdOf(frame: ReceivedFrame): number {
    return (
      (frame as ReceivedFrame & { deliveryId?: number }).deliveryId ??
      (frame.performative?.['deliveryId'] as number | undefined) ??
      -1
    );
  }

  /** @internal */
  addSession(channel: number, incomingWindow: number, nextIncomingId: number): PeerSession {
    const s: PeerSession = {
      channel,
      nextOutgoingId: 0,
      nextIncomingId,
      incomingWindow,
      outgoingWindow: DEFAULT_WINDOW,
      nextDeliveryId: 0,
      links: new Map(),
    };
    this.sessions.set(channel, s);
    this.lastSession = s;
    return s;
  }

  /** @internal */
  addLink(s: PeerSession, name: string, handle: number, role: 'sender' | 'receiver', deliveryCount: number): PeerLink {
    const link: PeerLink = { name, handle, role, deliveryCount, credit: 0, currentDeliveryId: -1, nextTag: 0 };
    s.links.set(handle, link);
    this.lastLink = link;
    return link;
  }

  /** @internal */
  sessionOn(channel: number): PeerSession {
    const s = this.sessions.get(channel);
    if (!s) throw new Error(`no session on channel ${channel}`);
    return s;
  }

  /** @internal */
  currentSession(channel?: number): PeerSession {
    if (channel !== undefined) return this.sessionOn(channel);
    if (!this.lastSession) throw new Error('no session has begun');
    return this.lastSession;
  }

  /** @internal */
  linkOf(channel: number | undefined, handle: number | undefined): PeerLink {
    if (handle === undefined) {
      if (!this.lastLink) throw new Error('no link is attached');
      return this.lastLink;
    }
    const link = this.currentSession(channel).links.get(handle);
    if (!link) throw new Error(`no link with handle ${handle}`);
    return link;
  }

  /** @internal */
  writeFrameNow(
    spec: CompositeSpec,
    fields: object,
    options: { channel?: number | undefined; payload?: Uint8Array | undefined; frameType?: number | undefined } = {},
  ): void {
    const w = new ByteWriter(256);
    writeFrame(w, options.frameType ?? AMQP_FRAME_TYPE, options.channel ?? 0, spec, fields, options.payload);
    this.write(w.toBuffer());
  }

  private writeEmptyFrameNow(): void {
    const w = new ByteWriter(8);
    writeEmptyFrame(w);
    this.write(w.toBuffer());
  }

  /** @internal */
  writeFlowNow(o: FlowOptions, sessionOnly: boolean): void {
    const s = this.currentSession(o.channel);
    if (o.incomingWindow !== undefined) s.incomingWindow = o.incomingWindow;
    const fields: Record<string, unknown> = {
      nextIncomingId: o.nextIncomingId ?? s.nextIncomingId,
      incomingWindow: s.incomingWindow,
      nextOutgoingId: o.nextOutgoingId ?? s.nextOutgoingId,
      outgoingWindow: o.outgoingWindow ?? s.outgoingWindow,
      echo: o.echo,
    };
    if (!sessionOnly) {
      const link = this.linkOf(o.channel, o.handle);
      fields['handle'] = link.handle;
      fields['deliveryCount'] = o.deliveryCount ?? link.deliveryCount;
      fields['linkCredit'] = o.linkCredit;
      fields['available'] = o.available;
      fields['drain'] = o.drain;
      if (link.role === 'sender' && o.deliveryCount !== undefined) link.deliveryCount = o.deliveryCount;
    }
    this.writeFrameNow(compositeSpecs.flow, fields, { channel: s.channel });
  }

  /** @internal */
  writeTransferNow(o: TransferOptions): void {
    const s = this.currentSession(o.channel);
    const link = this.linkOf(o.channel, o.handle);
    const first = link.currentDeliveryId < 0;
    let deliveryId = o.deliveryId;
    let deliveryTag = o.deliveryTag;
    if (first && !o.aborted) {
      deliveryId ??= s.nextDeliveryId;
      s.nextDeliveryId = (deliveryId + 1) >>> 0;
      deliveryTag ??= Buffer.from(`tag-${link.nextTag++}`);
      link.deliveryCount = (link.deliveryCount + 1) >>> 0;
      link.currentDeliveryId = o.more ? deliveryId : -1;
    } else if (!o.more || o.aborted) {
      link.currentDeliveryId = -1;
    }
    const payload = o.message ? encodeMessage(o.message) : o.payload;
    this.writeFrameNow(
      compositeSpecs.transfer,
      {
        handle: link.handle,
        deliveryId,
        deliveryTag,
        messageFormat: first && !o.aborted ? (o.messageFormat ?? 0) : o.messageFormat,
        settled: o.settled,
        more: o.more,
        rcvSettleMode: o.rcvSettleMode,
        state: o.state,
        aborted: o.aborted,
      },
      { channel: s.channel, payload },
    );
    s.nextOutgoingId = (s.nextOutgoingId + 1) >>> 0;
  }

  /** @internal */
  writeDispositionNow(o: DispositionOptions): void {
    const s = this.currentSession(o.channel);
    const role = o.role ?? (this.lastLink ? this.lastLink.role === 'receiver' : true);
    this.writeFrameNow(
      compositeSpecs.disposition,
      { role, first: o.first, last: o.last, settled: o.settled, state: o.state },
      { channel: s.channel },
    );
  }

  /** @internal Queues bytes; they go out, cut as configured, at the end of the current step. */
  write(bytes: Buffer): void {
    this.pendingOut.push(bytes);
    if (this.batchDepth === 0) this.flushOut();
  }

  private flushOut(): void {
    if (this.pendingOut.length === 0 || this.sink === undefined) return;
    const all = Buffer.concat(this.pendingOut);
    this.pendingOut = [];
    const sink = this.sink;
    const start = this.outOffset;
    this.outOffset += all.length;
    const cuts = new Set<number>();
    const every = this.split.every;
    if (every !== undefined && every > 0) {
      for (let i = every; i < all.length; i += every) cuts.add(i);
    }
    for (const at of this.split.at ?? []) if (at > start && at < start + all.length) cuts.add(at - start);
    let from = 0;
    for (const cut of [...cuts].sort((a, b) => a - b)) {
      sink(Buffer.from(all.subarray(from, cut)));
      from = cut;
    }
    sink(from === 0 ? all : Buffer.from(all.subarray(from)));
  }
}

// ---- Expectations ----

/** An expected frame; `respond`-style methods add what the peer answers when it arrives. */
export class Expectation {
  protected readonly peer: ScriptedPeer;
  protected readonly entry: Extract<Entry, { type: 'expect' }>;

  constructor(peer: ScriptedPeer, kind: string, match: FieldMatcher, extra?: (f: ReceivedFrame) => string | undefined) {
    this.peer = peer;
    const what = Object.keys(match).length > 0 ? `${kind} ${describeMatcher(match)}` : kind;
    this.entry = {
      type: 'expect',
      what,
      optional: false,
      responses: [],
      match: (f) => {
        if (f.kind !== kind) return `kind ${f.kind} is not ${kind}`;
        const p: Record<string, unknown> = f.performative ?? {};
        for (const [key, expected] of Object.entries(match)) {
          if (key === 'payload' || key === 'channel') continue;
          const diff = difference(expected, p[key], key);
          if (diff !== undefined) return diff;
        }
        if ('channel' in match && match['channel'] !== f.channel)
          return `channel ${f.channel} is not ${String(match['channel'])}`;
        return extra?.(f);
      },
    };
    peer.addEntry(this.entry);
  }

  /** The frame may be missing: a frame that does not match is checked against the next entries. */
  optional(): this {
    this.entry.optional = true;
    return this;
  }

  /** Calls `fn` with the frame when it arrives (after the responses added before). */
  then(fn: (frame: ReceivedFrame) => void): this {
    this.entry.responses.push(fn);
    return this;
  }

  /** Writes a frame when the expected one arrives. */
  respondWith(
    spec: CompositeSpec,
    fields: object | ((f: ReceivedFrame) => object),
    options: { channel?: number; payload?: Uint8Array } = {},
  ): this {
    return this.then((f) =>
      this.peer.writeFrameNow(spec, typeof fields === 'function' ? fields(f) : fields, {
        channel: options.channel ?? f.channel,
        payload: options.payload,
      }),
    );
  }
}

export class HeaderExpectation extends Expectation {
  private readonly protocolId: ProtocolId;
  constructor(peer: ScriptedPeer, protocolId: ProtocolId) {
    super(peer, 'header', {}, (f) =>
      f.protocolId === protocolId ? undefined : `protocol id ${f.protocolId} is not ${protocolId}`,
    );
    this.protocolId = protocolId;
  }

  /** Answers with the same header (and, for SASL, the mechanisms offered). */
  respond(mechanisms: string[] = ['ANONYMOUS']): this {
    return this.then(() => {
      this.peer.write(Buffer.from(protocolHeader(this.protocolId)));
      if (this.protocolId === ProtocolId.Sasl)
        this.peer.writeFrameNow(
          compositeSpecs.saslMechanisms,
          { saslServerMechanisms: mechanisms },
          { frameType: SASL_FRAME_TYPE },
        );
    });
  }
}

export class SaslInitExpectation extends Expectation {
  constructor(peer: ScriptedPeer, match: FieldMatcher) {
    super(peer, 'saslInit', match);
  }

  /** Answers with a SASL outcome (0: ok, 1: auth, 2: sys, 3: sys-perm, 4: sys-temp). */
  respond(code = 0): this {
    return this.then(() =>
      this.peer.writeFrameNow(compositeSpecs.saslOutcome, { code }, { frameType: SASL_FRAME_TYPE }),
    );
  }
}

export class OpenExpectation extends Expectation {
  constructor(peer: ScriptedPeer, match: FieldMatcher) {
    super(peer, 'open', match);
  }

  /** Answers with our open; `fields` override its defaults (container id `scripted-peer`). */
  respond(fields: FieldMatcher = {}): this {
    return this.respondWith(compositeSpecs.open, { containerId: 'scripted-peer', ...fields }, { channel: 0 });
  }
}

export class BeginExpectation extends Expectation {
  constructor(peer: ScriptedPeer, match: FieldMatcher) {
    super(peer, 'begin', match);
  }

  /** Answers with a begin on the same channel; `fields` override (e.g. `incomingWindow: 0`). */
  respond(fields: FieldMatcher = {}): this {
    return this.then((f) => {
      const p = f.performative!;
      const s = this.peer.addSession(
        f.channel,
        (fields['incomingWindow'] as number | undefined) ?? DEFAULT_WINDOW,
        p['nextOutgoingId'] as number,
      );
      this.peer.writeFrameNow(
        compositeSpecs.begin,
        {
          remoteChannel: f.channel,
          nextOutgoingId: s.nextOutgoingId,
          incomingWindow: s.incomingWindow,
          outgoingWindow: s.outgoingWindow,
          ...fields,
        },
        { channel: f.channel },
      );
    });
  }
}

export class AttachExpectation extends Expectation {
  constructor(peer: ScriptedPeer, match: FieldMatcher) {
    super(peer, 'attach', match);
  }

  /**
   * Answers with the mirror attach: same name and handle, the other role, the same terminus.
   * `fields` override (give `target: undefined` or `source: undefined` to refuse the link).
   */
  respond(fields: FieldMatcher = {}): this {
    return this.then((f) => {
      const p = f.performative!;
      const weSend = p['role'] === true;
      this.peer.writeFrameNow(
        compositeSpecs.attach,
        {
          name: p['name'],
          handle: p['handle'],
          role: !weSend,
          sndSettleMode: p['sndSettleMode'],
          rcvSettleMode: p['rcvSettleMode'],
          source: p['source'],
          target: p['target'],
          initialDeliveryCount: weSend ? 0 : undefined,
          ...fields,
        },
        { channel: f.channel },
      );
    });
  }
}

export class FlowExpectation extends Expectation {
  constructor(peer: ScriptedPeer, match: FieldMatcher) {
    super(peer, 'flow', match);
  }

  /**
   * We send on this link and Quark asked us to drain: we have nothing, so we advance the delivery
   * count by the credit and answer with credit 0 and drain set (spec 2.6.7).
   */
  respondDrained(): this {
    return this.then((f) => {
      const p = f.performative!;
      const deliveryCount =
        (((p['deliveryCount'] as number | undefined) ?? 0) + ((p['linkCredit'] as number | undefined) ?? 0)) >>> 0;
      this.peer.writeFlowNow(
        { channel: f.channel, handle: p['handle'] as number, deliveryCount, linkCredit: 0, drain: true },
        false,
      );
    });
  }
}

export class TransferExpectation extends Expectation {
  constructor(
    peer: ScriptedPeer,
    match: FieldMatcher & { payload?: Uint8Array | string | ((p: Buffer | undefined) => boolean) },
  ) {
    const expected = match.payload;
    super(peer, 'transfer', match, (f) => {
      if (expected === undefined) return undefined;
      if (typeof expected === 'function')
        return expected(f.payload) ? undefined : 'the payload does not satisfy the predicate';
      const want = typeof expected === 'string' ? Buffer.from(expected) : Buffer.from(expected);
      return f.payload !== undefined && want.equals(f.payload)
        ? undefined
        : `payload ${f.payload?.toString('hex') ?? '(none)'} is not ${want.toString('hex')}`;
    });
  }

  /** Answers with a disposition of this delivery: `state` (default accepted), settled unless told otherwise. */
  respondDisposition(state: DeliveryState | undefined = ACCEPTED, settled = true): this {
    return this.then((f) => {
      const id = ScriptedPeer.deliveryIdOf(f);
      this.peer.writeDispositionNow({ channel: f.channel, role: true, first: id, settled, state });
    });
  }

  accept(): this {
    return this.respondDisposition(ACCEPTED, true);
  }

  reject(error?: ErrorCondition): this {
    return this.respondDisposition({ kind: 'rejected', error }, true);
  }

  release(): this {
    return this.respondDisposition({ kind: 'released' }, true);
  }
}

export class DetachExpectation extends Expectation {
  constructor(peer: ScriptedPeer, match: FieldMatcher) {
    super(peer, 'detach', match);
  }

  /** Answers with a detach of the same handle, echoing `closed`. */
  respond(fields: FieldMatcher = {}): this {
    return this.respondWith(compositeSpecs.detach, (f) => ({
      handle: f.performative!['handle'],
      closed: f.performative!['closed'],
      ...fields,
    }));
  }
}

export class EndExpectation extends Expectation {
  constructor(peer: ScriptedPeer, match: FieldMatcher) {
    super(peer, 'end', match);
  }

  respond(fields: FieldMatcher = {}): this {
    return this.respondWith(compositeSpecs.end, { ...fields });
  }
}

export class CloseExpectation extends Expectation {
  constructor(peer: ScriptedPeer, match: FieldMatcher) {
    super(peer, 'close', match);
  }

  respond(fields: FieldMatcher = {}): this {
    return this.respondWith(compositeSpecs.close, { ...fields }, { channel: 0 });
  }
}

// ---- Matching ----

function describeFrame(f: ReceivedFrame): string {
  if (f.kind === 'header') return `protocol header ${f.protocolId}`;
  if (f.kind === 'empty') return 'an empty frame';
  const fields = Object.entries(f.performative ?? {})
    .filter(([k]) => k !== 'kind')
    .map(([k, v]) => `${k}=${show(v)}`)
    .join(' ');
  return `${f.kind}[${f.channel}] {${fields}}${f.payload ? ` +${f.payload.length}B` : ''}`;
}

function describeMatcher(m: FieldMatcher): string {
  return `{${Object.entries(m)
    .map(([k, v]) => `${k}=${typeof v === 'function' ? '(predicate)' : show(v)}`)
    .join(' ')}}`;
}

function show(v: unknown): string {
  if (v instanceof Uint8Array) return `0x${Buffer.from(v).toString('hex')}`;
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'object' && v !== null) {
    try {
      return JSON.stringify(v, (_k, x: unknown) =>
        typeof x === 'bigint' ? `${x}n` : x instanceof Uint8Array ? `0x${Buffer.from(x).toString('hex')}` : x,
      );
    } catch {
      return String(v);
    }
  }
  return String(v);
}

/** Why `actual` does not match `expected`, or undefined when it does. */
export function difference(expected: unknown, actual: unknown, path: string): string | undefined {
  if (typeof expected === 'function')
    return (expected as (v: unknown) => boolean)(actual)
      ? undefined
      : `${path}=${show(actual)} does not satisfy the predicate`;
  if (expected instanceof Uint8Array) {
    return actual instanceof Uint8Array && Buffer.from(expected).equals(Buffer.from(actual))
      ? undefined
      : `${path}=${show(actual)}, expected ${show(expected)}`;
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual) || actual.length !== expected.length)
      return `${path}=${show(actual)}, expected ${show(expected)}`;
    for (let i = 0; i < expected.length; i++) {
      const d = difference(expected[i], actual[i], `${path}[${i}]`);
      if (d) return d;
    }
    return undefined;
  }
  if (typeof expected === 'object' && expected !== null) {
    if (typeof actual !== 'object' || actual === null) return `${path}=${show(actual)}, expected ${show(expected)}`;
    for (const [k, v] of Object.entries(expected)) {
      const d = difference(v, (actual as Record<string, unknown>)[k], `${path}.${k}`);
      if (d) return d;
    }
    return undefined;
  }
  return Object.is(expected, actual) ? undefined : `${path}=${show(actual)}, expected ${show(expected)}`;
}
