/**
 * A raw client socket for tests of the listening side's SASL: it writes protocol headers and SASL
 * frames exactly as told (a mechanism that was not offered, a hand-made SCRAM message) and records
 * every header and frame the server sends, decoded, with the time it arrived. Loopback only.
 */
import net from 'node:net';
import tls from 'node:tls';
import { ByteWriter } from '../../src/codec/byte-writer.js';
import {
  AMQP_FRAME_TYPE,
  ProtocolId,
  SASL_FRAME_TYPE,
  decodeFrame,
  protocolHeader,
  readFrameHeader,
  writeFrame,
} from '../../src/codec/frames.js';
import { compositeSpecs, type CompositeSpec } from '../../src/codec/spec-tables.js';

export interface RawFrame {
  /** `header` for a protocol header, else the performative's kind (`saslMechanisms`, `saslOutcome`, `open`, ...), `empty` for a heartbeat. */
  kind: string;
  protocolId?: number;
  performative?: ({ kind: string } & Record<string, unknown>) | undefined;
  at: number;
}

export class RawSaslClient {
  readonly frames: RawFrame[] = [];
  readonly socket: net.Socket;
  /** Resolves when the socket has closed (by either side). */
  readonly closed: Promise<void>;
  #input: Buffer = Buffer.alloc(0);
  readonly #watchers = new Set<() => void>();
  /** Frames already handed out by `next`. */
  readonly #taken = new Set<RawFrame>();

  private constructor(socket: net.Socket) {
    this.socket = socket;
    this.closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => this.#notify());
  }

  /** Connects to 127.0.0.1:`port` (from `localAddress` when given, plain TCP only; over TLS with `tls`). */
  static async connect(
    port: number,
    options: { host?: string; localAddress?: string; tls?: tls.ConnectionOptions } = {},
  ): Promise<RawSaslClient> {
    const host = options.host ?? '127.0.0.1';
    const socket = options.tls
      ? tls.connect({ host, port, ...options.tls })
      : net.connect({ host, port, localAddress: options.localAddress });
    await new Promise<void>((resolve, reject) => {
      socket.once(options.tls ? 'secureConnect' : 'connect', () => resolve());
      socket.once('error', reject);
    });
    return new RawSaslClient(socket);
  }

  writeHeader(protocolId: ProtocolId): void {
    this.socket.write(Buffer.from(protocolHeader(protocolId)));
  }

  writeSasl(spec: CompositeSpec, fields: object): void {
    const w = new ByteWriter(256);
    writeFrame(w, SASL_FRAME_TYPE, 0, spec, fields);
    this.socket.write(w.toBuffer());
  }

  writeAmqp(spec: CompositeSpec, fields: object, channel = 0): void {
    const w = new ByteWriter(256);
    writeFrame(w, AMQP_FRAME_TYPE, channel, spec, fields);
    this.socket.write(w.toBuffer());
  }

  /** Writes the SASL header and resolves with the mechanisms the server offers. */
  async mechanisms(timeout = 5000): Promise<string[]> {
    this.writeHeader(ProtocolId.Sasl);
    const m = await this.next('saslMechanisms', timeout);
    return (m.performative!['saslServerMechanisms'] as string[] | undefined) ?? [];
  }

  /** Sends sasl-init. */
  init(mechanism: string, initialResponse?: Uint8Array, hostname?: string): void {
    this.writeSasl(compositeSpecs.saslInit, { mechanism, initialResponse, hostname });
  }

  /** Sends sasl-response. */
  respond(response: Uint8Array): void {
    this.writeSasl(compositeSpecs.saslResponse, { response });
  }

  /** The first frame of `kind` not yet taken by an earlier `next` (in arrival order); rejects on timeout or when the socket closes without it. */
  next(kind: string, timeout = 5000): Promise<RawFrame> {
    return new Promise<RawFrame>((resolve, reject) => {
      const check = (): boolean => {
        const i = this.frames.findIndex((f) => f.kind === kind && !this.#taken.has(f));
        if (i >= 0) {
          this.#taken.add(this.frames[i]!);
          done();
          resolve(this.frames[i]!);
          return true;
        }
        if (this.socket.destroyed) {
          done();
          reject(
            new Error(
              `the socket closed before a ${kind} frame came (got: ${this.frames.map((f) => f.kind).join(' ') || 'nothing'})`,
            ),
          );
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new Error(
            `no ${kind} frame within ${timeout} ms (got: ${this.frames.map((f) => f.kind).join(' ') || 'nothing'})`,
          ),
        );
      }, timeout);
      const done = (): void => {
        clearTimeout(timer);
        this.#watchers.delete(watcher);
      };
      const watcher = (): void => void check();
      if (!check()) this.#watchers.add(watcher);
    });
  }

  destroy(): Promise<void> {
    this.socket.destroy();
    return this.closed;
  }

  #notify(): void {
    for (const w of [...this.#watchers]) w();
  }

  #onData(chunk: Buffer): void {
    this.#input = this.#input.length === 0 ? chunk : Buffer.concat([this.#input, chunk]);
    const buf = this.#input;
    let pos = 0;
    while (buf.length - pos >= 8) {
      if (buf[pos] === 0x41 && buf[pos + 1] === 0x4d && buf[pos + 2] === 0x51 && buf[pos + 3] === 0x50) {
        this.frames.push({ kind: 'header', protocolId: buf[pos + 4]!, at: performance.now() });
        pos += 8;
        continue;
      }
      const header = readFrameHeader(buf, pos, 0x7fffffff);
      if (!header || buf.length - pos < header.size) break;
      const frame = decodeFrame(buf, pos, header);
      this.frames.push({
        kind: frame.performative?.kind ?? 'empty',
        performative: frame.performative as unknown as RawFrame['performative'],
        at: performance.now(),
      });
      pos += header.size;
    }
    this.#input = pos >= buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(pos));
    this.#notify();
  }
}

/** Whether an unused loopback port stays closed: resolves true when a connection to it is refused. */
export function portRefuses(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
  });
}

/** A loopback port that was free a moment ago. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
