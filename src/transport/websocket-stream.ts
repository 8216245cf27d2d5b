/**
 * A WebSocket as a byte stream, as the AMQP WebSocket Binding (WSB) v1.0 defines it: the AMQP
 * byte stream (protocol headers, SASL and AMQP frames) is the concatenation of the payloads of
 * binary messages, whatever their boundaries, so frames may be split across messages or packed
 * into one. Text messages are refused. The socket transport runs an engine over this stream as
 * over a TCP socket.
 */
import { Buffer } from 'node:buffer';
import type * as http from 'node:http';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { WebSocketError } from '../errors.js';

/**
 * The part of a `ws` WebSocket the stream uses, declared here so that Quark's published types do
 * not need `@types/ws` (tests/transport/websocket-types.test.ts checks it against @types/ws).
 */
export interface WebSocketLike {
  readonly readyState: number;
  readonly OPEN: 1;
  readonly CLOSED: 3;
  /** The URL connected to (a client's); empty on the listening side. */
  readonly url: string;
  binaryType: 'nodebuffer' | 'arraybuffer' | 'fragments';
  send(data: Buffer, options: { binary: boolean }, callback?: (error?: Error) => void): void;
  close(code?: number, reason?: string): void;
  terminate(): void;
  on(event: 'message', listener: (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => void): this;
  on(event: 'close', listener: (code: number, reason: Buffer) => void): this;
  on(event: 'error', listener: (error: Error) => void): this;
  on(event: 'upgrade', listener: (response: http.IncomingMessage) => void): this;
  once(event: 'open' | 'close', listener: () => void): this;
}

/**
 * The largest message written: a turn's output beyond it goes out in several messages (WSB allows
 * it), so that no peer's message limit (100 MiB in `ws` and most servers) is ever reached.
 */
const MAX_MESSAGE_BYTES = 1024 * 1024;
/** Close codes (RFC 6455 section 7.4.1). */
const NORMAL_CLOSURE = 1000;
const UNSUPPORTED_DATA = 1003;
/** Close codes with which a peer says that we broke the protocol. */
const FAILURE_CODES: ReadonlySet<number> = new Set([1002, 1003, 1007, 1008, 1009, 1010, 1011]);

export class WebSocketStream extends Duplex {
  readonly #ws: WebSocketLike;
  #socket: Socket | undefined;

  /**
   * @param ws An open WebSocket (the listening side), or one still connecting (a client: writes
   * wait for it to open).
   * @param socket The TCP or TLS socket under it, when known (a client learns it at the upgrade).
   */
  constructor(ws: WebSocketLike, socket: Socket | undefined) {
    super({ allowHalfOpen: false });
    this.#ws = ws;
    this.#socket = socket;
    ws.binaryType = 'nodebuffer';
    ws.on('upgrade', (response) => (this.#socket = response.socket as Socket));
    ws.on('message', (data, isBinary) => {
      if (!isBinary) {
        this.destroy(
          new WebSocketError(
            'text-message',
            `${this.#peer()} sent a WebSocket text message; AMQP over WebSocket takes binary messages only (AMQP WebSocket Binding, section 2). Check that the peer speaks AMQP.`,
          ),
        );
        return;
      }
      this.push(data as Buffer);
    });
    ws.on('close', (code, reason) => {
      if (FAILURE_CODES.has(code)) {
        this.destroy(
          new WebSocketError(
            'protocol',
            `${this.#peer()} closed the WebSocket with code ${code}${reason.length > 0 ? ` (${reason.toString()})` : ''}: it found our messages invalid.`,
          ),
        );
      } else {
        this.push(null);
      }
    });
    ws.on('error', (error) => this.destroy(webSocketFailure(error, this.#peer())));
  }

  /** The TCP or TLS socket under the WebSocket (for its addresses and TLS session), once known. */
  get socket(): Socket | undefined {
    return this.#socket;
  }

  /** Calls `callback` once the WebSocket is open (at once if it is). */
  whenOpen(callback: () => void): void {
    if (this.#ws.readyState === this.#ws.OPEN) callback();
    else this.#ws.once('open', callback);
  }

  #peer(): string {
    return this.#ws.url
      ? `the WebSocket peer ${this.#ws.url}`
      : `the WebSocket client ${this.#socket?.remoteAddress ?? ''}`.trimEnd();
  }

  override _read(): void {
    // Messages are pushed as they arrive; the AMQP session window bounds how much comes.
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#send([chunk], callback);
  }

  override _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    this.#send(
      chunks.map((c) => c.chunk),
      callback,
    );
  }

  /** Sends the bytes as few messages as fit under the message size; `callback` once all are written. */
  #send(buffers: Buffer[], callback: (error?: Error | null) => void): void {
    const ws = this.#ws;
    // (Nothing is written before the WebSocket is open: the client engine opens on its 'open'.)
    if (ws.readyState !== ws.OPEN) {
      callback(); // nothing will read those bytes now; the close is on its way
      return;
    }
    const messages = packMessages(buffers);
    const last = messages.length - 1;
    for (let i = 0; i < last; i++) ws.send(messages[i]!, { binary: true });
    ws.send(messages[last]!, { binary: true }, (error) => callback(error));
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (this.#ws.readyState === this.#ws.OPEN) this.#ws.close(NORMAL_CLOSURE);
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const ws = this.#ws;
    if (ws.readyState === ws.CLOSED) {
      callback(error);
      return;
    }
    ws.once('close', () => callback(error));
    // A text message is answered with a close that says why (ws bounds its wait with closeTimeout).
    if (error instanceof WebSocketError && error.reason === 'text-message' && ws.readyState === ws.OPEN)
      ws.close(UNSUPPORTED_DATA, 'AMQP takes binary messages only');
    else ws.terminate();
  }
}

/** Groups buffers into messages of at most MAX_MESSAGE_BYTES (one message for a typical turn). */
function packMessages(buffers: Buffer[]): Buffer[] {
  const messages: Buffer[] = [];
  let group: Buffer[] = [];
  let size = 0;
  const close = (): void => {
    if (group.length > 0) messages.push(group.length === 1 ? group[0]! : Buffer.concat(group, size));
    group = [];
    size = 0;
  };
  for (let buffer of buffers) {
    while (size + buffer.length > MAX_MESSAGE_BYTES) {
      const room = MAX_MESSAGE_BYTES - size;
      group.push(buffer.subarray(0, room));
      size += room;
      buffer = buffer.subarray(room);
      close();
    }
    if (buffer.length > 0) {
      group.push(buffer);
      size += buffer.length;
    }
  }
  close();
  return messages;
}

/** The typed error of a `ws` failure; network and TLS errors are passed on as they are (the connection names them). */
function webSocketFailure(error: Error, peer: string): Error {
  const status = /^Unexpected server response: (\d+)/.exec(error.message);
  if (status) {
    const code = Number(status[1]);
    const hint =
      code === 404
        ? 'check the path in the URL'
        : code === 401 || code === 403
          ? 'the server or a gateway wants credentials: give them in websocket.headers (e.g. Authorization)'
          : 'check that the URL points at an AMQP WebSocket endpoint';
    return new WebSocketError('handshake', `${peer} refused the WebSocket upgrade with HTTP status ${code}: ${hint}.`, {
      status: code,
      cause: error,
    });
  }
  if (/subprotocol/i.test(error.message)) {
    return new WebSocketError(
      'subprotocol',
      `${peer} did not agree to the "amqp" WebSocket subprotocol (${error.message}): the endpoint does not speak AMQP over WebSocket (AMQP WebSocket Binding).`,
      { cause: error },
    );
  }
  if ((error as NodeJS.ErrnoException).code?.startsWith('WS_ERR_') === true) {
    return new WebSocketError('protocol', `${peer} broke the WebSocket protocol: ${error.message}.`, { cause: error });
  }
  return error;
}
