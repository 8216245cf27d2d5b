import { EventEmitter, once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { WebSocketError } from '../../src/errors.js';
import { WebSocketStream, type WebSocketLike } from '../../src/transport/websocket-stream.js';

/** A WebSocket that records what is sent and closed, and plays the peer on demand. */
class FakeWebSocket extends EventEmitter {
  readonly OPEN = 1 as const;
  readonly CLOSED = 3 as const;
  readyState: number = 1;
  readonly url = 'ws://peer.example/amqp';
  binaryType: 'nodebuffer' | 'arraybuffer' | 'fragments' = 'arraybuffer';
  readonly sent: Buffer[] = [];
  closedWith: [number | undefined, string | undefined] | undefined;

  send(data: Buffer, _options: { binary: boolean }, callback?: (error?: Error) => void): void {
    this.sent.push(Buffer.from(data));
    if (callback) setImmediate(callback);
  }

  close(code?: number, reason?: string): void {
    this.closedWith = [code, reason];
    this.#closed(code ?? 1005);
  }

  terminate(): void {
    this.#closed(1006);
  }

  #closed(code: number): void {
    if (this.readyState === this.CLOSED) return;
    this.readyState = this.CLOSED;
    setImmediate(() => this.emit('close', code, Buffer.alloc(0)));
  }
}

function stream(): { ws: FakeWebSocket; stream: WebSocketStream } {
  const ws = new FakeWebSocket();
  return { ws, stream: new WebSocketStream(ws as unknown as WebSocketLike, undefined) };
}

describe('WebSocketStream', () => {
  it('asks ws for Buffers, and hands each binary message on as bytes of one stream', async () => {
    const { ws, stream: s } = stream();
    expect(ws.binaryType).toBe('nodebuffer');
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    ws.emit('message', Buffer.from('AM'), true);
    ws.emit('message', Buffer.from('QP'), true);
    await new Promise(setImmediate);
    expect(Buffer.concat(chunks).toString()).toBe('AMQP');
  });

  it("writes a turn's chunks as one message, and splits what passes 1 MiB into messages of 1 MiB", async () => {
    const { ws, stream: s } = stream();
    s.cork();
    s.write(Buffer.alloc(10, 1));
    s.write(Buffer.alloc(20, 2));
    process.nextTick(() => s.uncork());
    await new Promise((resolve) => s.write(Buffer.alloc(30, 3), resolve));
    expect(ws.sent.map((m) => m.length)).toEqual([60]);
    ws.sent.length = 0;
    const MiB = 1024 * 1024;
    s.cork();
    s.write(Buffer.alloc(MiB - 100, 4));
    s.write(Buffer.alloc(MiB + MiB / 2, 5));
    process.nextTick(() => s.uncork());
    await new Promise((resolve) => s.write(Buffer.alloc(100, 6), resolve));
    expect(ws.sent.map((m) => m.length)).toEqual([MiB, MiB, MiB / 2]);
    expect(
      Buffer.concat(ws.sent).equals(
        Buffer.concat([Buffer.alloc(MiB - 100, 4), Buffer.alloc(MiB + MiB / 2, 5), Buffer.alloc(100, 6)]),
      ),
    ).toBe(true);
  });

  it('refuses a text message: a WebSocketError, and the WebSocket closed with 1003 saying why', async () => {
    const { ws, stream: s } = stream();
    const error = once(s, 'error');
    const closed = new Promise((resolve) => s.once('close', resolve));
    ws.emit('message', Buffer.from('hello'), false);
    const [e] = (await error) as [WebSocketError];
    expect(e).toBeInstanceOf(WebSocketError);
    expect(e.reason).toBe('text-message');
    expect(e.message).toMatch(/ws:\/\/peer\.example\/amqp sent a WebSocket text message/);
    expect(ws.closedWith).toEqual([1003, 'AMQP takes binary messages only']);
    await closed;
  });

  it('a peer closing with a failure code is a WebSocketError (protocol); a normal close ends the stream', async () => {
    const failed = stream();
    const error = once(failed.stream, 'error');
    failed.ws.readyState = 3;
    failed.ws.emit('close', 1002, Buffer.from('bad frame'));
    const [e] = (await error) as [WebSocketError];
    expect(e).toMatchObject({ reason: 'protocol' });
    expect(e.message).toMatch(/closed the WebSocket with code 1002 \(bad frame\)/);

    const normal = stream();
    normal.stream.resume();
    const ended = once(normal.stream, 'end');
    normal.ws.readyState = 3;
    normal.ws.emit('close', 1000, Buffer.alloc(0));
    await ended;
  });

  it('end() closes the WebSocket with 1000; destroy() terminates it; both wait for its close', async () => {
    const ended = stream();
    ended.stream.resume();
    ended.stream.end();
    await once(ended.stream, 'close');
    expect(ended.ws.closedWith).toEqual([1000, undefined]);

    const destroyed = stream();
    destroyed.stream.destroy();
    await once(destroyed.stream, 'close');
    expect(destroyed.ws.readyState).toBe(3);
    expect(destroyed.ws.closedWith).toBeUndefined();
  });
});
