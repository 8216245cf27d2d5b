import type { DeliveryState } from '../codec/composite-types.js';
import type { AmqpError } from '../errors.js';
import type { Connection } from './connection.js';
import type { Delivery } from './delivery.js';
import type { Receiver } from './receiver.js';
import type { Sender } from './sender.js';
import type { Session } from './session.js';

/**
 * The public event union: what `connection.events$` (and each link's `events$`) emits.
 * Every event is a view of one engine event; none carries state of its own.
 */
export type QuarkEvent =
  /** The peer's open arrived: the connection is usable. */
  | { type: 'opened'; connection: Connection }
  /** The connection closed with an AMQP close (by us or the peer; `error` when either gave one). */
  | { type: 'closed'; connection: Connection; error: AmqpError | undefined }
  /**
   * An open connection was lost: its socket went (network failure, peer crash, idle timeout) or
   * the peer closed it. `reconnecting` says whether it will be reconnected (`reconnecting` and
   * `reconnected` follow) or is over (`closed` follows, with the same error).
   */
  | { type: 'disconnected'; connection: Connection; error: AmqpError; reconnecting: boolean }
  /** A reconnect attempt will be made to `url` (password removed) after `delay` ms; `attempt` counts from 1 in each outage. */
  | { type: 'reconnecting'; connection: Connection; attempt: number; delay: number; url: string }
  /** The connection is open again, to `url`; its sessions and links are being attached again. */
  | { type: 'reconnected'; connection: Connection; url: string }
  | { type: 'sessionOpened'; session: Session }
  | { type: 'sessionClosed'; session: Session; error: AmqpError | undefined }
  | { type: 'linkOpened'; link: Sender | Receiver }
  /** A link ended: detached or closed by the peer or by us. */
  | { type: 'linkClosed'; link: Sender | Receiver; error: AmqpError | undefined }
  /**
   * The receiver asked a sender to drain: send now what you have, up to `credit`; what is not
   * used is given back at the end of this turn.
   */
  | { type: 'drainRequested'; link: Sender; credit: number }
  /** A sender got credit: it may send `credit` more messages now. */
  | { type: 'sendable'; link: Sender; credit: number }
  /** The peer settled (or gave an outcome for) a message a sender sent. */
  | { type: 'settled'; link: Sender; tag: Uint8Array; outcome: DeliveryState | undefined }
  /** A whole message arrived at a receiver. */
  | { type: 'message'; link: Receiver; delivery: Delivery }
  /** The sender aborted a message that was arriving; nothing of it is kept. */
  | { type: 'aborted'; link: Receiver }
  /** A receiver's drain finished: it has no credit left. */
  | { type: 'drained'; link: Receiver };

/** The `type` of every public event. */
export type QuarkEventType = QuarkEvent['type'];
