/**
 * The listening side's contract with the client: everything src/server does to client objects
 * beyond their public API, in one place. The server hears of a connection a peer opened through
 * {@link IncomingConnectionHooks}, and adopts, authenticates and throttles through the functions
 * below; it touches no member marked internal.
 */
import type { DeliveryState } from '../codec/composite-types.js';
import type { ProtocolEngine } from '../engine/engine.js';
import type { EngineLink, LinkAttachOptions } from '../engine/link.js';
import type { SocketTransport } from '../transport/socket-transport.js';
import { Connection, type Authentication } from './connection.js';
import type { Delivery } from './delivery.js';
import type { Link } from './link.js';
import { Receiver, type ReceiverSettings } from './receiver.js';
import { Sender } from './sender.js';
import type { Session } from './session.js';

/**
 * What the listening side hears of a connection a peer opened to it, given when the connection is
 * made (a client's own connections have none). The connection calls it; nothing else is replaced
 * or wrapped.
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

/** The connection a peer opened to a listener, on `transport`; `hooks` tell the listening side what happens. */
export function acceptConnection(
  engine: ProtocolEngine,
  transport: SocketTransport,
  hooks: IncomingConnectionHooks,
): Connection {
  return Connection.incoming(engine, transport, hooks);
}

/** Accepts a link the peer attached as a receiver: our sender, attached with `attach`. */
export function adoptAsSender(session: Session, engineLink: EngineLink, attach: Partial<LinkAttachOptions>): Sender {
  return new Sender(session, engineLink).acceptAttach(attach);
}

/** Accepts a link the peer attached as a sender: our receiver, with `settings`, attached with `attach`. */
export function adoptAsReceiver(
  session: Session,
  engineLink: EngineLink,
  settings: ReceiverSettings,
  attach: Partial<LinkAttachOptions>,
): Receiver {
  return new Receiver(session, engineLink, settings).acceptAttach(attach);
}

/** Records who the client of an incoming connection logged in as (`connection.authentication`). */
export function setAuthentication(connection: Connection, identity: Authentication): void {
  connection.authentication = identity;
}

/** Takes back the credit a receiver granted and was not used (a flow with credit 0): the broker does this when it is full. */
export function withdrawCredit(receiver: Receiver): void {
  receiver.withdrawCredit();
}

/** The state the sender put on the transfer of a received message (a transactional-state for a message sent in a transaction). */
export function transferStateOf(delivery: Delivery): DeliveryState | undefined {
  return delivery.transferState;
}

/** Settles a received message with any state (the broker's transaction coordinator answers with `declared` and transactional states). */
export function settleWith(delivery: Delivery, state: DeliveryState): void {
  delivery.settleWith(state);
}

/** Whether the peer's detach of `link` closed it (rather than only detaching it, spec 2.6.6). */
export function closedByPeer(link: Link): boolean {
  return link.engineLink.remoteClosed;
}
