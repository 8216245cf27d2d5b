/**
 * A delivery as the engine tracks it (spec, transport 2.6.12): one message transfer on a link,
 * from its first transfer frame until both ends have settled it.
 */
import type { DeliveryState } from '../codec/composite-types.js';
import type { EngineLink } from './link.js';

export class EngineDelivery {
  /** The link the delivery travels on. */
  readonly link: EngineLink;
  /** The delivery tag, unique among the link's unsettled deliveries. */
  readonly tag: Uint8Array;
  /** The session-scoped delivery id; assigned when the first transfer frame goes out (sender) or arrives (receiver). */
  id = -1;
  /** The message format of the transfer (0 for AMQP messages). */
  messageFormat: number;
  /** The state we last set (our disposition). */
  localState: DeliveryState | undefined;
  /** Whether we have settled the delivery. */
  settled: boolean;
  /** The state the peer last sent. */
  remoteState: DeliveryState | undefined;
  /** Whether the peer has settled the delivery. */
  remoteSettled = false;
  /** Incoming: whether the sender aborted it. */
  aborted = false;
  /** Incoming: the payload (complete once the last frame arrived). Outgoing: the bytes to send. */
  payload: Uint8Array | undefined;
  /** Incoming: payload chunks of a multi-frame delivery still arriving. */
  chunks: Uint8Array[] | undefined;
  /** Incoming: payload bytes received so far. */
  size = 0;
  /** Outgoing: how many payload bytes have been framed and written. */
  offset = 0;
  /** Set by a layer above to find its own object for this delivery (a promise, a handler context). */
  context: unknown;

  constructor(link: EngineLink, tag: Uint8Array, messageFormat: number, settled: boolean) {
    this.link = link;
    this.tag = tag;
    this.messageFormat = messageFormat;
    this.settled = settled;
  }

  /** Sets our state and, when `settle` is true, settles; the disposition goes out with the next output. */
  update(state: DeliveryState | undefined, settle: boolean): void {
    this.link.session.updateDelivery(this, state, settle);
  }

  /** Settles the delivery without changing its state. */
  settle(): void {
    this.link.session.updateDelivery(this, this.localState, true);
  }
}
