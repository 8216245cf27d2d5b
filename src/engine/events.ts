/**
 * The engine's one typed event union. Every state change the peer causes (and every failure the
 * engine detects) is one of these, emitted in the order the frames arrived.
 */
import type { ErrorCondition } from '../codec/composite-types.js';
import type { AmqpError } from '../errors.js';
import type { EngineDelivery } from './delivery.js';
import type { EngineLink } from './link.js';
import type { EngineSession } from './session.js';

export type EngineEvent =
  /** The peer's protocol header arrived (AMQP after SASL, or AMQP directly). */
  | { type: 'protocolHeader'; protocolId: number }
  /** Server side: a client chose a SASL mechanism; answer with `completeSasl()`. */
  | { type: 'saslInit'; mechanism: string; initialResponse: Uint8Array | undefined; hostname: string | undefined }
  /** Client side: the server's SASL outcome arrived (code 0 is success). */
  | { type: 'saslResponse'; response: Uint8Array }
  | { type: 'saslOutcome'; code: number }
  /** The peer's open arrived. */
  | { type: 'connectionRemoteOpen' }
  /** The peer's close arrived (the engine has answered it). */
  | { type: 'connectionRemoteClose'; error: ErrorCondition | undefined }
  /** The engine found the peer in breach of the protocol, or its bytes malformed, and closed the connection. */
  | { type: 'protocolError'; error: AmqpError }
  /** The peer did not send anything within our idle timeout; the connection is closed. */
  | { type: 'idleTimeout' }
  /** Both ends have closed (or the engine stopped): after the output is written, the transport may end. */
  | { type: 'connectionFinal' }
  /** The peer began a session (answering ours, or a new one). */
  | { type: 'sessionRemoteOpen'; session: EngineSession }
  /** The peer ended a session (the engine has answered it). */
  | { type: 'sessionRemoteClose'; session: EngineSession; error: ErrorCondition | undefined }
  /** The peer attached a link (answering ours, or a new one: check `link.localState`). */
  | { type: 'linkRemoteOpen'; link: EngineLink }
  /** The peer detached a link (the engine has answered it). */
  | { type: 'linkRemoteClose'; link: EngineLink; closed: boolean; error: ErrorCondition | undefined }
  /** We detached a link with an error because of what the peer sent (e.g. a message over the size limit). */
  | { type: 'linkLocalError'; link: EngineLink; error: ErrorCondition }
  /** A sender link's credit or drain request changed. */
  | { type: 'linkFlow'; link: EngineLink }
  /** A receiver link's drain completed: its credit is now zero. */
  | { type: 'linkDrained'; link: EngineLink }
  /** A whole incoming delivery arrived. */
  | { type: 'delivery'; link: EngineLink; delivery: EngineDelivery }
  /** A streaming receiver's delivery: the bytes of one more transfer (`last` once it is whole). */
  | { type: 'deliveryChunk'; link: EngineLink; delivery: EngineDelivery; chunk: Uint8Array; last: boolean }
  /** The sender aborted an incoming delivery; its partial payload was dropped. */
  | { type: 'deliveryAborted'; link: EngineLink; delivery: EngineDelivery }
  /** The peer changed a delivery's state or settled it. */
  | { type: 'deliveryRemoteUpdate'; delivery: EngineDelivery };

/** The `type` of every engine event. */
export type EngineEventType = EngineEvent['type'];
