/**
 * The `ws` package (RFC 6455), an optional dependency: loaded the first time a `ws://` or
 * `wss://` URL or a WebSocket listener is used, so that applications that never use WebSocket
 * neither install nor load it.
 */
import { Buffer } from 'node:buffer';
import type * as http from 'node:http';
import type * as net from 'node:net';
import type { Duplex } from 'node:stream';
import type * as tls from 'node:tls';
import { WebSocketError } from '../errors.js';
import { packageRequire } from '../runtime/package-require.js';
import type { WebSocketLike } from './websocket-stream.js';

/**
 * The part of the `ws` module Quark uses, declared here so that Quark's published types do not
 * need `@types/ws` (tests/transport/websocket-types.test.ts checks it against @types/ws).
 */
export interface WsModule {
  WebSocket: new (address: string, protocols: string[], options: WebSocketClientOptions) => WebSocketLike;
  WebSocketServer: new (options: WebSocketServerOptions) => WebSocketServerLike;
}

/** The `ws` client options Quark gives: TLS and HTTP options, and WebSocket ones. */
export interface WebSocketClientOptions extends tls.ConnectionOptions {
  headers?: Record<string, string> | undefined;
  agent?: http.Agent | undefined;
  lookup?: net.LookupFunction | undefined;
  perMessageDeflate?: boolean | undefined;
  followRedirects?: boolean | undefined;
}

/** The `ws` server options Quark gives. */
export interface WebSocketServerOptions {
  noServer: boolean;
  clientTracking: boolean;
  perMessageDeflate: boolean;
  handleProtocols: (protocols: Set<string>, request: http.IncomingMessage) => string | false;
}

/** The part of a `ws` WebSocketServer Quark uses. */
export interface WebSocketServerLike {
  handleUpgrade(
    request: http.IncomingMessage,
    socket: Duplex,
    head: Buffer,
    callback: (ws: WebSocketLike, request: http.IncomingMessage) => void,
  ): void;
}

let loaded: WsModule | undefined;

/** The `ws` module; a `WebSocketError` (`unavailable`) saying to install it when it is not installed. */
export function loadWebSocketModule(): WsModule {
  if (loaded !== undefined) return loaded;
  try {
    loaded = packageRequire('ws') as WsModule;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw e;
    throw new WebSocketError(
      'unavailable',
      'AMQP over WebSocket needs the optional package "ws", which is not installed: run `npm install ws` in your application (Quark loads it only for ws:// and wss:// URLs and WebSocket listeners).',
      { cause: e },
    );
  }
  return loaded;
}
