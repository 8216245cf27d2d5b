import type { EngineLink } from '../engine/link.js';
import type { Session } from './session.js';

/**
 * What the listening side (src/server) hears of a connection a peer opened to it: the one hook
 * between the server and the client's Connection, given when the connection is made (a client's
 * own connections have none). The connection calls it; nothing else is replaced or wrapped.
 */
export interface IncomingConnectionHooks {
  /** The client chose a SASL mechanism: check it, then answer through the engine (`completeSasl`, `challengeSasl`). */
  saslInit(mechanism: string, initialResponse: Uint8Array | undefined, hostname: string | undefined): void;
  /** The client answered a SASL challenge. */
  saslResponse(response: Uint8Array): void;
  /** The client's open arrived (answer it with the engine's `open()`, or close). */
  remoteOpen(): void;
  /** The client attached a link on `session`: accept it or refuse it. */
  remoteLink(engineLink: EngineLink, session: Session): void;
  /** The connection's socket has closed, and the connection has done its part of the cleanup. */
  socketClosed(): void;
}
