/**
 * Moves bytes between a protocol engine and a socket (TCP or TLS), or a WebSocket's messages over
 * one: reads into the engine, writes its output once per turn of the event loop (all frames of
 * the turn in one socket write, or one WebSocket message), holds a pipelining sender's
 * acknowledgements briefly to batch them (see acknowledgement-batching.ts) and, for a streaming
 * sender, gathers its messages into fewer reads meanwhile, keeps the engine's clock ticking for
 * idle timeouts, and respects the socket's backpressure.
 */
import { Buffer } from 'node:buffer';
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { debugLog } from '../runtime/debug-log.js';
import type { ProtocolEngine } from '../engine/engine.js';
import { AcknowledgementBatching } from './acknowledgement-batching.js';
import type { WebSocketStream } from './websocket-stream.js';
import type { DirectReads, ReadSink } from './direct-reads.js';

const log = debugLog('quark:transport');

/** How long a socket may take to close after the connection ended before it is destroyed. */
const CLOSE_GRACE_MS = 2000;

export class SocketTransport implements ReadSink {
  readonly engine: ProtocolEngine;
  /** What the bytes go through: the socket itself, or a WebSocket over it. */
  readonly stream: Socket | WebSocketStream;
  /** The socket error that ended the transport, if one did. */
  error: Error | undefined;
  /** Called once when the socket has closed and every timer is gone. */
  onClosed: (() => void) | undefined;
  /** Called when the socket can take more bytes after a write that filled its buffer. */
  onDrain: (() => void) | undefined;
  private flushScheduled: NodeJS.Immediate | undefined;
  private readonly acknowledgements = new AcknowledgementBatching();
  /** Runs while acknowledgements are held: writes them when the delay has passed. */
  private acknowledgementTimer: NodeJS.Timeout | undefined;
  /**
   * Whether reading may pause while acknowledgements are held: only for direct reads, which stop
   * at once (a paused stream would read on, a system call per message, until its buffer fills).
   */
  private readonly canPauseReading: boolean;
  /** Reading is paused while a streaming sender's acknowledgements are held. */
  private readingPaused = false;
  private tickTimer: NodeJS.Timeout | undefined;
  private graceTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private ending = false;

  /**
   * @param directReads  how the socket was made to read (TCP sockets of `connect()`); without
   *   it, the transport listens to the stream's 'data' events.
   */
  constructor(engine: ProtocolEngine, stream: Socket | WebSocketStream, directReads?: DirectReads) {
    this.engine = engine;
    this.stream = stream;
    this.canPauseReading = directReads !== undefined;
    const socket: Duplex = stream;
    if (stream instanceof Socket) stream.setNoDelay(true); // (ws sets it on the socket under a WebSocket)
    engine.onOutput = () => this.scheduleFlush();
    if (directReads !== undefined) directReads.attach(this);
    else socket.on('data', (chunk: Buffer) => this.ingestRead(chunk));
    socket.on('drain', () => this.onDrain?.());
    socket.on('end', () => engine.ingestEnd());
    socket.on('error', (err: Error) => {
      log('socket error: %s', err.message);
      this.error ??= err;
      engine.ingestEnd();
    });
    socket.on('close', () => this.cleanup());
    this.scheduleFlush();
  }

  /**
   * What the socket read: into the engine. For direct reads, false stops the socket's reading
   * after this read (see `endOfTurn`).
   */
  ingestRead(bytes: Buffer): boolean {
    this.engine.ingest(bytes);
    // Input that makes no output (the peer's open, its empty frames) must still start the
    // idle-timeout clock, or an idle connection would never tick.
    if (this.tickTimer === undefined) this.armTick();
    return !this.readingPaused;
  }

  /** The TCP or TLS socket (under the WebSocket, for a WebSocket), once known: its addresses and TLS session. */
  get socket(): Socket | undefined {
    return this.stream instanceof Socket ? this.stream : this.stream.socket;
  }

  /** True while the socket's write buffer is full: senders should wait for `onDrain`. */
  get blocked(): boolean {
    return this.stream.writableNeedDrain;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled !== undefined || this.closed) return;
    this.flushScheduled = setImmediate(() => {
      this.flushScheduled = undefined;
      this.endOfTurn();
    });
  }

  /** The turn's output goes out now, or, when it is only acknowledgements of a pipelining sender, is held a moment for more. */
  private endOfTurn(): void {
    if (this.closed || this.acknowledgements.writeNow(this.engine)) {
      this.flush();
      return;
    }
    this.engine.outputHeld();
    if (this.acknowledgementTimer !== undefined) return; // a hold runs: its timer writes
    // Whether reading pauses and how long the hold lasts are decided together, when it starts;
    // while paused, the next read's answer stops reading (see ingestRead).
    this.readingPaused = this.canPauseReading && this.acknowledgements.pauseReading;
    this.acknowledgementTimer = setTimeout(() => {
      this.acknowledgementTimer = undefined;
      this.acknowledgements.delayExpired(this.engine, this.readingPaused);
      this.flush();
    }, this.acknowledgements.holdDelay(this.readingPaused));
  }

  /** Writes everything the engine has, in one write; ends the socket once the engine is finished. */
  flush(): void {
    if (this.closed) return;
    if (this.acknowledgementTimer !== undefined) {
      clearTimeout(this.acknowledgementTimer);
      this.acknowledgementTimer = undefined;
    }
    this.acknowledgements.written(this.engine, this.readingPaused);
    if (this.readingPaused) {
      this.readingPaused = false;
      this.stream.resume(); // what came meanwhile is read in one go
    }
    const chunks = this.engine.takeOutputChunks();
    const written = this.engine.takeWrittenCallbacks();
    if (chunks !== undefined && !this.stream.destroyed && this.stream.writable) {
      // Payload buffers are reused once the socket has taken their bytes (writes complete in order).
      const done = written === undefined ? undefined : () => runAll(written);
      if (chunks.length === 1) this.stream.write(chunks[0]!, done);
      else {
        // One writev for the whole turn.
        this.stream.cork();
        const last = chunks.length - 1;
        for (let i = 0; i < last; i++) this.stream.write(chunks[i]!);
        this.stream.write(chunks[last]!, done);
        this.stream.uncork();
      }
    } else if (written !== undefined) {
      runAll(written); // nothing will read those bytes now
    }
    if (this.engine.finished) this.end();
    else this.armTick();
  }

  /** Keeps one timer running while the engine has idle timeouts to watch (none otherwise). */
  private armTick(): void {
    if (this.tickTimer !== undefined || this.closed || this.engine.finished) return;
    const now = performance.now();
    const next = this.engine.tick(now);
    if (next === undefined) return;
    this.tickTimer = setTimeout(
      () => {
        this.tickTimer = undefined;
        this.armTick();
        this.scheduleFlush();
      },
      Math.max(1, next - now),
    );
  }

  /** Ends the socket after the output is written; destroys it if the peer does not close in time. */
  end(): void {
    if (this.ending || this.closed) return;
    this.ending = true;
    if (this.tickTimer !== undefined) clearTimeout(this.tickTimer);
    this.tickTimer = undefined;
    this.stream.end();
    this.graceTimer = setTimeout(() => this.stream.destroy(), CLOSE_GRACE_MS);
    this.graceTimer.unref();
  }

  /** Drops the socket at once. */
  destroy(error?: Error): void {
    if (error) this.error ??= error;
    this.stream.destroy();
  }

  private cleanup(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.flushScheduled !== undefined) clearImmediate(this.flushScheduled);
    if (this.acknowledgementTimer !== undefined) clearTimeout(this.acknowledgementTimer);
    this.acknowledgementTimer = undefined;
    if (this.tickTimer !== undefined) clearTimeout(this.tickTimer);
    if (this.graceTimer !== undefined) clearTimeout(this.graceTimer);
    this.flushScheduled = undefined;
    this.tickTimer = undefined;
    this.graceTimer = undefined;
    this.engine.ingestEnd();
    this.onClosed?.();
  }
}

function runAll(callbacks: (() => void)[]): void {
  for (const callback of callbacks) callback();
}
