/**
 * The `ws` package (RFC 6455), an optional dependency: loaded the first time a `ws://` or
 * `wss://` URL or a WebSocket listener is used, so that applications that never use WebSocket
 * neither install nor load it.
 */
import { WebSocketError } from '../errors.js';
import { packageRequire } from '../runtime/package-require.js';

/** The `ws` module as it is required (CommonJS: the WebSocket class with `WebSocketServer` on it). */
export type WsModule = typeof import('ws');

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
