/**
 * A fault-injecting TCP proxy for tests of connection loss and reconnect: it listens on
 * 127.0.0.1 and forwards each connection it accepts to a target on the loopback interface, and a
 * test can, at any moment, black-hole the path, slow it down, cut it in the middle of a frame,
 * drop every connection, refuse new ones, or point new connections at another target.
 *
 * The side under test is the client: a fault is what the client would see on a real network. So
 * a black-holed path hides everything from the client, even the target closing its socket; only
 * the client closing, or the test dropping the connection, ends a black-holed pair.
 *
 * Targets must be loopback addresses (127.0.0.0/8, ::1 or `localhost`): tests never touch the
 * network beyond this machine.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';

/** Where the proxy forwards connections: a loopback host and a port. */
export interface ProxyTarget {
  host: string;
  port: number;
}

export interface FaultProxyOptions {
  /** Where accepted connections are forwarded (until {@link FaultProxy.setTarget}). */
  target: ProxyTarget;
}

/** A running proxy; see {@link startFaultProxy}. Every fault stays in force until undone. */
export interface FaultProxy {
  /** The port the proxy listens on, on 127.0.0.1. */
  readonly port: number;
  /** `amqp://127.0.0.1:<port>`: connect here instead of to the target. */
  readonly url: string;
  /** Proxied connections whose client side is still open (refused connections never count). */
  readonly connections: number;
  /** Every connection accepted since the start, refused ones included. */
  readonly accepted: number;
  /** Forwards connections accepted from now on to `target` (for failover tests); existing ones stay where they are. */
  setTarget(target: ProxyTarget): void;
  /**
   * From now on, swallows every byte in both directions of existing and new connections, and
   * every close of the target side, while the client's sockets stay open: a frozen peer, or a
   * dead network path. New connections accepted meanwhile never reach the target.
   */
  blackhole(): void;
  /**
   * Ends {@link blackhole} for connections accepted from now on; pairs black-holed already stay
   * dead until the client closes them or the test drops them. It does not undo {@link delay}
   * or {@link refuse}, which have their own off switches.
   */
  heal(): void;
  /**
   * Delays every chunk, in both directions of existing and new connections, by at least `ms`
   * from when the proxy reads it; order is kept (a chunk never overtakes an earlier one, even
   * after the delay is lowered). `delay(0)` forwards at once again.
   */
  delay(ms: number): void;
  /**
   * For each existing forwarding connection, forwards only the first half of the next chunk from
   * the target to the client (at least 1 byte, fewer than all), then destroys both sockets: a
   * connection lost in the middle of a frame. A 1-byte chunk cannot be split, so it is forwarded
   * whole and the cut waits for the next chunk. Connections accepted later are not affected.
   */
  cutMidFrame(): void;
  /** Destroys every proxied connection now, with a TCP reset where the socket allows one. */
  dropAll(): void;
  /** While `on`, accepts new connections and resets them at once: a port that is down. */
  refuse(on: boolean): void;
  /** Stops listening, destroys every socket and clears every timer; resolves when all are closed. */
  close(): Promise<void>;
}

/**
 * Starts a proxy listening on a free port of 127.0.0.1, forwarding to `options.target`.
 * Throws when the target is not a loopback address.
 */
export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  assertLoopbackTarget(options.target);
  const proxy = new TcpFaultProxy(options.target);
  await proxy.listen();
  return proxy;
}

/** Throws unless `target` is a loopback host with a valid port. */
function assertLoopbackTarget(target: ProxyTarget): void {
  const { host, port } = target;
  const loopback =
    host === 'localhost' ||
    (net.isIPv4(host) && host.split('.')[0] === '127') ||
    (net.isIPv6(host) && /^(::1|(0{1,4}:){7}0{0,3}1|::ffff:127\.\d+\.\d+\.\d+)$/i.test(host));
  if (!loopback) throw new Error(`fault proxy targets must be loopback addresses; got ${host}`);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new Error(`fault proxy target port must be 1-65535; got ${port}`);
}

/** What travels through one direction of a pair, in order: bytes, a half-close, or a close. */
type QueuedItem =
  | { kind: 'chunk'; bytes: Buffer; dueAt: number }
  | { kind: 'end'; dueAt: number }
  /** `abort`: the source closed on an error (e.g. a reset), so the destination is reset too. */
  | { kind: 'close'; abort: boolean; dueAt: number };

/** One direction of a pair, with its own queue so that delayed items keep their order. */
interface Direction {
  readonly toClient: boolean;
  readonly queue: QueuedItem[];
  /** Armed while the head of the queue is not yet due. */
  timer: NodeJS.Timeout | undefined;
  /** Set while the source is paused until the destination drains. */
  awaitingDrain: boolean;
}

/**
 * An accepted client socket and the socket to the target. `passing` forwards; `blackholed`
 * swallows; `severed` is being torn down by the proxy (cut or dropped), so events are ignored.
 */
interface ProxiedPair {
  readonly client: net.Socket;
  /** Absent when the connection was accepted while black-holed: it never reached the target. */
  readonly upstream: net.Socket | undefined;
  mode: 'passing' | 'blackholed' | 'severed';
  clientClosed: boolean;
  upstreamClosed: boolean;
  /** Armed by cutMidFrame(): the next target-to-client chunk is cut. */
  cutArmed: boolean;
  readonly toUpstream: Direction;
  readonly toClient: Direction;
}

class TcpFaultProxy implements FaultProxy {
  port = 0;
  accepted = 0;

  private target: ProxyTarget;
  private readonly server: net.Server;
  private readonly pairs = new Set<ProxiedPair>();
  /** Refused sockets until they have closed, so that close() can wait for them. */
  private readonly refusedSockets = new Set<net.Socket>();
  private blackholing = false;
  private refusing = false;
  private delayMs = 0;
  private closing: Promise<void> | undefined;

  constructor(target: ProxyTarget) {
    this.target = { ...target };
    // allowHalfOpen: a half-close from one side is forwarded as such, not turned into a full close.
    this.server = net.createServer({ allowHalfOpen: true }, (socket) => this.onAccept(socket));
  }

  /** Binds 127.0.0.1 on a free port. */
  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    // A listening server that emits 'error' without a listener would crash the test run.
    this.server.on('error', () => undefined);
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  get url(): string {
    return `amqp://127.0.0.1:${this.port}`;
  }

  get connections(): number {
    let open = 0;
    for (const pair of this.pairs) if (!pair.client.destroyed) open++;
    return open;
  }

  setTarget(target: ProxyTarget): void {
    assertLoopbackTarget(target);
    this.target = { ...target };
  }

  blackhole(): void {
    this.blackholing = true;
    for (const pair of this.pairs) {
      if (pair.mode !== 'passing') continue;
      pair.mode = 'blackholed';
      pair.cutArmed = false;
      for (const direction of [pair.toUpstream, pair.toClient]) clearDirection(direction);
      // Keep reading both sides (a paused source would stop swallowing).
      pair.client.resume();
      pair.upstream?.resume();
      // A client that closed before the black hole leaves nothing to keep the target side open.
      if (pair.clientClosed) pair.upstream?.destroy();
    }
  }

  heal(): void {
    this.blackholing = false;
  }

  delay(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new Error(`delay must be a finite number of ms >= 0; got ${ms}`);
    this.delayMs = ms;
  }

  cutMidFrame(): void {
    for (const pair of this.pairs) if (pair.mode === 'passing' && !pair.clientClosed) pair.cutArmed = true;
  }

  dropAll(): void {
    for (const pair of this.pairs) {
      this.sever(pair);
      resetSocket(pair.client);
      if (pair.upstream) resetSocket(pair.upstream);
    }
  }

  refuse(on: boolean): void {
    this.refusing = on;
  }

  close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  private async shutDown(): Promise<void> {
    const closed: Promise<void>[] = [new Promise<void>((resolve) => this.server.close(() => resolve()))];
    const sockets = [...this.refusedSockets];
    for (const pair of this.pairs) {
      this.sever(pair);
      sockets.push(pair.client);
      if (pair.upstream) sockets.push(pair.upstream);
    }
    for (const socket of sockets) {
      // 'close' comes once per socket, even when it is already destroyed but not yet closed.
      if (!socket.closed) closed.push(new Promise<void>((resolve) => socket.once('close', () => resolve())));
      socket.destroy();
    }
    await Promise.all(closed);
    // The server's 'close' comes before libuv has released its handle (at the end of the loop's
    // close phase); two turns of the loop pass that phase, so no handle is left when we resolve.
    for (let turn = 0; turn < 2; turn++) await new Promise<void>((resolve) => setImmediate(resolve));
  }

  private onAccept(client: net.Socket): void {
    this.accepted++;
    client.on('error', () => undefined);
    if (this.closing || this.refusing) {
      this.refusedSockets.add(client);
      client.once('close', () => this.refusedSockets.delete(client));
      resetSocket(client);
      return;
    }
    client.setNoDelay(true);
    let upstream: net.Socket | undefined;
    if (!this.blackholing) {
      upstream = net.connect({ host: this.target.host, port: this.target.port, allowHalfOpen: true });
      upstream.setNoDelay(true);
      upstream.on('error', () => undefined);
    }
    const pair: ProxiedPair = {
      client,
      upstream,
      mode: upstream ? 'passing' : 'blackholed',
      clientClosed: false,
      upstreamClosed: upstream === undefined,
      cutArmed: false,
      toUpstream: { toClient: false, queue: [], timer: undefined, awaitingDrain: false },
      toClient: { toClient: true, queue: [], timer: undefined, awaitingDrain: false },
    };
    this.pairs.add(pair);
    this.wire(pair, client, pair.toUpstream);
    if (upstream) this.wire(pair, upstream, pair.toClient);
  }

  /** Routes the events of `source` into `outgoing`, the direction that leaves it. */
  private wire(pair: ProxiedPair, source: net.Socket, outgoing: Direction): void {
    source.on('data', (bytes: Buffer) => {
      if (pair.mode === 'passing') this.enqueue(pair, outgoing, { kind: 'chunk', bytes, dueAt: this.dueAt() });
    });
    source.on('end', () => {
      if (pair.mode === 'passing') this.enqueue(pair, outgoing, { kind: 'end', dueAt: this.dueAt() });
    });
    source.on('close', (hadError: boolean) => this.onSocketClosed(pair, source, outgoing, hadError));
  }

  private onSocketClosed(pair: ProxiedPair, source: net.Socket, outgoing: Direction, hadError: boolean): void {
    const isClient = source === pair.client;
    if (isClient) pair.clientClosed = true;
    else pair.upstreamClosed = true;
    // Nothing more can be written to the socket that closed.
    clearDirection(isClient ? pair.toClient : pair.toUpstream);
    if (pair.mode === 'passing') {
      this.enqueue(pair, outgoing, { kind: 'close', abort: hadError, dueAt: this.dueAt() });
    } else if (pair.mode === 'blackholed' && isClient) {
      // The client gave up on the dead path; the target side has no one left to serve.
      pair.upstream?.destroy();
    }
    if (pair.clientClosed && pair.upstreamClosed) {
      clearDirection(pair.toUpstream);
      clearDirection(pair.toClient);
      this.pairs.delete(pair);
    }
  }

  private dueAt(): number {
    return performance.now() + this.delayMs;
  }

  /** Delivers `item` now when nothing is ahead of it and it is due, else queues it behind the rest. */
  private enqueue(pair: ProxiedPair, direction: Direction, item: QueuedItem): void {
    if (direction.queue.length === 0 && item.dueAt <= performance.now()) {
      this.deliver(pair, direction, item);
      return;
    }
    direction.queue.push(item);
    this.armTimer(pair, direction);
  }

  private armTimer(pair: ProxiedPair, direction: Direction): void {
    const head = direction.queue[0];
    if (direction.timer || !head) return;
    // Timers may fire a little early by performance.now(); flush() re-arms for the remainder.
    const wait = Math.max(1, Math.ceil(head.dueAt - performance.now()));
    direction.timer = setTimeout(() => {
      direction.timer = undefined;
      this.flush(pair, direction);
    }, wait);
  }

  private flush(pair: ProxiedPair, direction: Direction): void {
    const now = performance.now();
    while (pair.mode === 'passing' && direction.queue.length > 0 && direction.queue[0]!.dueAt <= now) {
      this.deliver(pair, direction, direction.queue.shift()!);
    }
    if (pair.mode === 'passing') this.armTimer(pair, direction);
  }

  private deliver(pair: ProxiedPair, direction: Direction, item: QueuedItem): void {
    const destination = direction.toClient ? pair.client : pair.upstream;
    const source = direction.toClient ? pair.upstream : pair.client;
    if (!destination || !source || destination.destroyed) return;
    if (item.kind === 'end') {
      destination.end();
    } else if (item.kind === 'close') {
      if (item.abort) resetSocket(destination);
      else endThenDestroy(destination);
    } else if (direction.toClient && pair.cutArmed && item.bytes.length >= 2) {
      this.cut(pair, item.bytes.subarray(0, Math.floor(item.bytes.length / 2)));
    } else if (!destination.write(item.bytes) && !direction.awaitingDrain) {
      // Backpressure: stop reading the source until the destination catches up.
      direction.awaitingDrain = true;
      source.pause();
      destination.once('drain', () => {
        direction.awaitingDrain = false;
        if (pair.mode === 'passing') source.resume();
      });
    }
  }

  /** Writes `prefix` to the client, then destroys both sockets. */
  private cut(pair: ProxiedPair, prefix: Buffer): void {
    this.sever(pair);
    pair.upstream?.destroy();
    // end() then destroy: destroying at once could discard the prefix before it is sent.
    pair.client.write(prefix);
    endThenDestroy(pair.client);
  }

  /** Stops all forwarding on `pair` and clears its timers; its sockets are closed by the caller. */
  private sever(pair: ProxiedPair): void {
    pair.mode = 'severed';
    pair.cutArmed = false;
    clearDirection(pair.toUpstream);
    clearDirection(pair.toClient);
  }
}

/** Drops everything queued in `direction` and its timer. */
function clearDirection(direction: Direction): void {
  direction.queue.length = 0;
  if (direction.timer) clearTimeout(direction.timer);
  direction.timer = undefined;
}

/** Destroys `socket` with a TCP reset (RST) when it is connected, else plainly. */
function resetSocket(socket: net.Socket): void {
  if (socket.destroyed) return;
  // resetAndDestroy() on a socket still connecting would wait for the connection first.
  if (socket.connecting) socket.destroy();
  else socket.resetAndDestroy();
}

/** Closes `socket` gracefully (what was written still goes out, then FIN), then destroys it. */
function endThenDestroy(socket: net.Socket): void {
  if (socket.destroyed) return;
  socket.end();
  if (socket.writableFinished) socket.destroy();
  else socket.once('finish', () => socket.destroy());
}
