/**
 * The client side of AMQP over WebSocket: an HTTP upgrade asking for the `amqp` subprotocol
 * (AMQP WebSocket Binding, section 2), then a byte stream the socket transport runs an engine over.
 */
import type * as http from 'node:http';
import type * as net from 'node:net';
import type * as tls from 'node:tls';
import type { WsModule } from './websocket-module.js';
import { WebSocketStream } from './websocket-stream.js';

/** The subprotocol of AMQP over WebSocket. */
export const AMQP_SUBPROTOCOL = 'amqp';

/** Where and how to open a WebSocket. */
export interface WebSocketConnectParams {
  host: string;
  port: number;
  /** The HTTP path and query of the upgrade. */
  path: string;
  headers: Readonly<Record<string, string>> | undefined;
  agent: http.Agent | undefined;
  /** TLS options for `wss://`; undefined for `ws://`. */
  tls: tls.ConnectionOptions | undefined;
  servername: string | undefined;
  lookup: net.LookupFunction | undefined;
}

/** Starts a WebSocket upgrade; the stream's `whenOpen` says when AMQP can begin. */
export function connectWebSocket(ws: WsModule, params: WebSocketConnectParams): WebSocketStream {
  const host = params.host.includes(':') ? `[${params.host}]` : params.host;
  const url = `${params.tls ? 'wss' : 'ws'}://${host}:${params.port}${params.path}`;
  const socket = new ws.WebSocket(url, [AMQP_SUBPROTOCOL], {
    servername: params.servername,
    ...params.tls,
    headers: params.headers === undefined ? undefined : { ...params.headers },
    agent: params.agent,
    lookup: params.lookup,
    // AMQP bodies are often compressed already, and compressing costs CPU and memory per message.
    perMessageDeflate: false,
    // A redirect would take the connection (and its credentials) elsewhere unasked.
    followRedirects: false,
  });
  return new WebSocketStream(socket, undefined);
}
