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
  | {
      /** What happened. */
      type: 'opened';
      /** The connection it happened to. */
      connection: Connection;
    }
  /** The connection closed with an AMQP close (by us or the peer; `error` when either gave one). */
  | {
      /** What happened. */
      type: 'closed';
      /** The connection it happened to. */
      connection: Connection;
      /** The close's error, when either side gave one. */
      error: AmqpError | undefined;
    }
  /**
   * An open connection was lost: its socket went (network failure, peer crash, idle timeout) or
   * the peer closed it. `reconnecting` says whether it will be reconnected (`reconnecting` and
   * `reconnected` follow) or is over (`closed` follows, with the same error).
   */
  | {
      /** What happened. */
      type: 'disconnected';
      /** The connection it happened to. */
      connection: Connection;
      /** Why it was lost. */
      error: AmqpError;
      /** True when it will be reconnected; false when it is over. */
      reconnecting: boolean;
    }
  /** A reconnect attempt will be made to `url` (password removed) after `delay` ms; `attempt` counts from 1 in each outage. */
  | {
      /** What happened. */
      type: 'reconnecting';
      /** The connection it happened to. */
      connection: Connection;
      /** Which attempt this is in the current outage, from 1. */
      attempt: number;
      /** Milliseconds until the attempt. */
      delay: number;
      /** Where the attempt goes (its password removed). */
      url: string;
    }
  /** The connection is open again, to `url`; its sessions and links are being attached again. */
  | {
      /** What happened. */
      type: 'reconnected';
      /** The connection it happened to. */
      connection: Connection;
      /** Where it is connected now (its password removed). */
      url: string;
    }
  /** The peer began a session we began (or we began one it began). */
  | {
      /** What happened. */
      type: 'sessionOpened';
      /** The session it happened to. */
      session: Session;
    }
  /** A session ended (by us or the peer; `error` when either gave one). */
  | {
      /** What happened. */
      type: 'sessionClosed';
      /** The session it happened to. */
      session: Session;
      /** The end's error, when either side gave one. */
      error: AmqpError | undefined;
    }
  /** The peer attached a link we attached (or we attached one it attached). */
  | {
      /** What happened. */
      type: 'linkOpened';
      /** The link it happened to. */
      link: Sender | Receiver;
    }
  /** A link ended: detached or closed by the peer or by us. */
  | {
      /** What happened. */
      type: 'linkClosed';
      /** The link it happened to. */
      link: Sender | Receiver;
      /** The detach's error, when either side gave one. */
      error: AmqpError | undefined;
    }
  /**
   * The receiver asked a sender to drain: send now what you have, up to `credit`; what is not
   * used is given back at the end of this turn.
   */
  | {
      /** What happened. */
      type: 'drainRequested';
      /** The sender asked to drain. */
      link: Sender;
      /** The credit it has to use now or give back. */
      credit: number;
    }
  /** A sender got credit: it may send `credit` more messages now. */
  | {
      /** What happened. */
      type: 'sendable';
      /** The sender that got credit. */
      link: Sender;
      /** How many messages it may send now. */
      credit: number;
    }
  /** The peer settled (or gave an outcome for) a message a sender sent. */
  | {
      /** What happened. */
      type: 'settled';
      /** The sender that sent the message. */
      link: Sender;
      /** The message's delivery tag. */
      tag: Uint8Array;
      /** What the peer said of it (`accepted`, `rejected`, `released`, `modified`, ...), if anything. */
      outcome: DeliveryState | undefined;
    }
  /** A whole message arrived at a receiver. */
  | {
      /** What happened. */
      type: 'message';
      /** The receiver it arrived at. */
      link: Receiver;
      /** The delivery that brought it: the message and how to settle it. */
      delivery: Delivery;
    }
  /** The sender aborted a message that was arriving; nothing of it is kept. */
  | {
      /** What happened. */
      type: 'aborted';
      /** The receiver it was arriving at. */
      link: Receiver;
    }
  /** A receiver's drain finished: it has no credit left. */
  | {
      /** What happened. */
      type: 'drained';
      /** The receiver that drained. */
      link: Receiver;
    };

/** The `type` of every public event. */
export type QuarkEventType = QuarkEvent['type'];
