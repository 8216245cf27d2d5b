import type { ErrorCondition, Fields, Source, Target } from '../codec/composite-types.js';
import { checkValuesMode, type ValuesMode } from '../codec/message.js';
import type { Connection } from '../client/connection.js';
import { checkCredit } from '../client/link-options.js';
import { adoptAsReceiver, adoptAsSender } from '../client/listening-side.js';
import type { Receiver } from '../client/receiver.js';
import type { Sender } from '../client/sender.js';
import type { Session } from '../client/session.js';
import type { EngineLink } from '../engine/link.js';
import { IllegalStateError, InvalidArgumentError } from '../errors.js';
import { refuseUnknownOptions } from '../runtime/known-options.js';

/** Options when accepting a link on which the peer sends (we receive). */
export interface AcceptReceiverOptions {
  /** The credit window (see `ReceiverOptions.credit`). Default 100. */
  credit?: number | undefined;
  /** Accept each message as it is taken. Default false. */
  autoAccept?: boolean | undefined;
  /**
   * The largest message accepted, in bytes, declared in our attach (senders that honour it never
   * send more); a larger one closes the link with `amqp:link:message-size-exceeded`.
   */
  maxMessageSize?: number | undefined;
  /**
   * Settle every delivery as soon as it has an outcome (rcv-settle-mode first), whatever the
   * peer asked for. The receiver's attach decides its mode (spec 2.7.3); without this, a peer
   * that asks for mode second and never settles makes us hold a record of every message.
   * Default false: the peer's request is honoured.
   */
  settleFirst?: boolean | undefined;
  /** How message values are given: `'native'` (the default) or `'exact'` (see `ReceiverOptions.values`). */
  values?: ValuesMode | undefined;
  /** Hand deliveries over as they arrive, their data bodies as `delivery.stream()` (see `ReceiverOptions.streaming`). */
  streaming?: boolean | undefined;
}

const ACCEPT_RECEIVER_OPTIONS: ReadonlySet<string> = new Set([
  'credit',
  'autoAccept',
  'maxMessageSize',
  'settleFirst',
  'values',
  'streaming',
  'address',
]);
const ACCEPT_SENDER_OPTIONS: ReadonlySet<string> = new Set(['address', 'filter']);

/** A link a peer attached to a listener, waiting to be accepted as a sender or receiver, or refused. */
export class IncomingLink {
  /** The connection the link arrived on. */
  readonly connection: Connection;
  /** The session the link arrived on. */
  readonly session: Session;
  readonly #link: EngineLink;
  #answered = false;

  /** @internal */
  constructor(connection: Connection, session: Session, link: EngineLink) {
    this.connection = connection;
    this.session = session;
    this.#link = link;
  }

  /** The link name the peer chose. */
  get name(): string {
    return this.#link.name;
  }

  /**
   * Our role: `receiver` when the peer attached as a sender (it will send to us), `sender` when
   * it attached as a receiver (it wants messages from us).
   */
  get role(): 'sender' | 'receiver' {
    return this.#link.role;
  }

  /** The peer's source (where a receiving peer wants messages from). */
  get source(): Source | undefined {
    return this.#link.remote?.source;
  }

  /** The peer's target (where a sending peer sends to). */
  get target(): Target | undefined {
    const t = this.#link.remote?.target;
    return t?.kind === 'target' ? t : undefined;
  }

  /** The address the link is about: the target's for a sending peer, the source's for a receiving one. */
  get address(): string | undefined {
    return this.role === 'receiver' ? this.target?.address : this.source?.address;
  }

  /** True when the peer attached a sender to our transaction coordinator (its target is a `coordinator`). */
  get coordinator(): boolean {
    return this.#link.remote?.target?.kind === 'coordinator';
  }

  /** True when the peer asked us to create a node (a dynamic source or target). */
  get dynamic(): boolean {
    return (this.role === 'receiver' ? this.target?.dynamic : this.source?.dynamic) ?? false;
  }

  #answer(accepting: boolean): void {
    if (this.#answered) throw new IllegalStateError(`link ${this.name} was already accepted or refused`);
    if (accepting && this.#link.remoteState !== 'open')
      throw new IllegalStateError(`the peer detached link ${this.name} before it was accepted`);
    this.#answered = true;
  }

  /**
   * Accepts a link on which the peer receives: returns our sender. `address` replaces the
   * source's address (for a dynamic source, the address of the node we made). `filter` is the
   * part of the peer's source filter we apply, echoed in our attach; the filters we leave out
   * tell the peer they are not in force (spec 3.5.3). Default: none (we apply no filter).
   */
  acceptAsSender(options: { address?: string | undefined; filter?: Fields | undefined } = {}): Sender {
    if (this.role !== 'sender')
      throw new IllegalStateError(`the peer sends on link ${this.name}: accept it with acceptAsReceiver()`);
    refuseUnknownOptions(options, ACCEPT_SENDER_OPTIONS, 'acceptAsSender');
    this.#answer(true);
    const source = this.source
      ? { ...this.source, address: options.address ?? this.source.address, filter: options.filter }
      : undefined;
    return adoptAsSender(this.session, this.#link, {
      source,
      target: this.#link.remote?.target,
      sndSettleMode: this.#link.remote?.sndSettleMode,
      rcvSettleMode: this.#link.remote?.rcvSettleMode,
    });
  }

  /**
   * Accepts a link on which the peer sends: returns our receiver, granting credit at once.
   * `address` replaces the target's address (for a dynamic target, the node we made).
   */
  acceptAsReceiver(options: AcceptReceiverOptions & { address?: string | undefined } = {}): Receiver {
    if (this.role !== 'receiver')
      throw new IllegalStateError(`the peer receives on link ${this.name}: accept it with acceptAsSender()`);
    refuseUnknownOptions(options, ACCEPT_RECEIVER_OPTIONS, 'acceptAsReceiver');
    const credit = checkCredit(options.credit);
    const max = options.maxMessageSize;
    if (max !== undefined && !(Number.isInteger(max) && max > 0))
      throw new InvalidArgumentError(`maxMessageSize must be a positive whole number of bytes, got ${String(max)}`);
    const values = checkValuesMode(options.values, 'values'); // before the answer: a bad value leaves the link to refuse
    this.#answer(true);
    const remote = this.#link.remote;
    // A coordinator target is echoed as it is (we act as the coordinator the peer asked for).
    const target = this.target
      ? { ...this.target, address: options.address ?? this.target.address }
      : this.coordinator
        ? this.#link.remote?.target
        : undefined;
    const rcvSettleMode = options.settleFirst ? 0 : remote?.rcvSettleMode;
    const settings = {
      credit,
      autoAccept: options.autoAccept ?? false,
      settlesSecond: rcvSettleMode === 1,
      values,
      streaming: options.streaming === true,
    };
    return adoptAsReceiver(this.session, this.#link, settings, {
      source: remote?.source,
      target,
      sndSettleMode: remote?.sndSettleMode,
      rcvSettleMode,
      maxMessageSize: max === undefined ? undefined : BigInt(max),
    });
  }

  /**
   * Refuses the link: the peer's attach is answered with no terminus and a detach carrying `error`.
   * A link the peer has detached meanwhile is refused all the same (its detach still wants ours).
   */
  refuse(error: ErrorCondition = { condition: 'amqp:not-allowed', description: 'the link was refused' }): void {
    this.#answer(false);
    this.#link.open({ source: undefined, target: undefined });
    this.#link.detach(true, error);
  }
}
