/**
 * Options of senders and receivers, and their translation into the attach's source and target
 * (spec, messaging 3.5). Checked once here, at the edge; the engine trusts what it gets.
 */
import type { ValuesMode } from '../codec/message.js';
import type { Fields, Source, Target } from '../codec/composite-types.js';
import type { AmqpValue } from '../codec/values.js';
import type { CallOptions } from './cancellation.js';
import { InvalidArgumentError } from '../errors.js';

/** A terminus (source or target) described in words rather than spec numbers. */
export interface TerminusOptions {
  /** The node's address. */
  address?: string | undefined;
  /** What the node keeps over a detach: `none` (default), `configuration`, or `unsettled-state` (durable subscriptions). */
  durable?: 'none' | 'configuration' | 'unsettled-state' | undefined;
  /** When the terminus expires: `session-end` (default), `link-detach`, `connection-close` or `never`. */
  expiryPolicy?: 'link-detach' | 'session-end' | 'connection-close' | 'never' | undefined;
  /**
   * Seconds (not milliseconds: the AMQP field's unit, kept as it is) the terminus lives after its
   * expiry point, a whole number. Default 0.
   */
  expiryTimeoutSeconds?: number | undefined;
  /** Ask the peer to create a node (e.g. a temporary reply queue); its address arrives in the peer's attach. */
  dynamic?: boolean | undefined;
  /** Properties of the node the peer should create, for `dynamic`. */
  dynamicNodeProperties?: Fields | undefined;
  /** Source only: `move` (consume, the default of queues) or `copy` (browse). */
  distributionMode?: 'move' | 'copy' | undefined;
  /** Source only: filters keyed by name, e.g. `{ selector: described(symbol('apache.org:selector-filter:string'), "x > 1") }`. */
  filter?: Record<string, AmqpValue> | undefined;
  /** Capabilities of the terminus, e.g. `['topic']`, `['queue']`. */
  capabilities?: string[] | undefined;
  /** Source only: the outcomes the receiver may use. */
  outcomes?: string[] | undefined;
}

/** Options shared by senders and receivers. */
export interface LinkOptions extends CallOptions {
  /** The link name, unique on the connection. Default: made from a counter and the container id. */
  name?: string | undefined;
  /** Link properties (attach properties), keyed by symbol name. */
  properties?: Fields | undefined;
  /** Capabilities the link offers the peer (attach's offered-capabilities), as symbol names. */
  offeredCapabilities?: string[] | undefined;
  /** Capabilities the link would like the peer's end to have (attach's desired-capabilities). */
  desiredCapabilities?: string[] | undefined;
  /**
   * `at-least-once` (default): the peer settles each message after processing it.
   * `at-most-once`: messages are pre-settled, and may be lost.
   */
  deliveryMode?: 'at-least-once' | 'at-most-once' | 'mixed' | undefined;
  /** The receiver settle mode: `first` (default) or `second` (the receiver settles after the sender). */
  rcvSettleMode?: 'first' | 'second' | undefined;
}

/** Options of a sender. */
export interface SenderOptions extends LinkOptions {
  /** Where messages go: an address, a terminus, or `null` for an anonymous relay (each message's `to` decides). */
  target?: string | TerminusOptions | null | undefined;
  /** The sender's own terminus. */
  source?: TerminusOptions | undefined;
  /**
   * What happens to a message that was sent but not yet settled when the connection was lost
   * (the peer may or may not have it): `'reject'` (default) fails its `send()` with
   * `InDoubtError`; `'resend'` sends it again after the reconnect, so it is delivered at least
   * once, possibly twice. Messages that had not gone out are sent after the reconnect either way.
   * `'resend'` keeps each message's bytes until it is settled.
   */
  inDoubt?: 'reject' | 'resend' | undefined;
}

/** Options of a receiver. */
export interface ReceiverOptions extends LinkOptions {
  /** Where messages come from: an address or a terminus (with filters, distribution mode, ...). */
  source?: string | TerminusOptions | undefined;
  /** The receiver's own terminus. */
  target?: TerminusOptions | undefined;
  /**
   * The credit window: how many messages may be in flight to this receiver. Refilled
   * automatically as messages are taken. 0 turns the window off: grant credit with `addCredit()`.
   * Default 100.
   */
  credit?: number | undefined;
  /** Accept each message as soon as it is taken from the receiver. Default false. */
  autoAccept?: boolean | undefined;
  /** The largest message accepted, in bytes; larger ones close the link with `amqp:link:message-size-exceeded`. */
  maxMessageSize?: number | undefined;
  /**
   * How message values are given: `'native'` (numbers, plain objects, strings, `Date`s; the
   * default, from the connection's `values`) or `'exact'` (every AMQP type kept, for bridges and
   * tools that resend what they receive).
   */
  values?: ValuesMode | undefined;
  /**
   * At most this many messages are taken (by a loop, `receive()`, `deliveries$()` or
   * `subscribe()`) and not yet settled: credit is granted as they are settled, so a slow
   * consumer or RxJS pipeline holds no more than this. Default: no bound (credit is granted as
   * messages are taken).
   */
  maxUnsettled?: number | undefined;
  /**
   * A message selector (JMS syntax, e.g. `"colour = 'green' AND size > 3"`), sent as the
   * `apache.org:selector-filter:string` filter: only matching messages are delivered. If the
   * peer does not apply it (its attach does not echo the filter), `createReceiver()` fails rather
   * than deliver unselected messages.
   */
  selector?: string | undefined;
  /**
   * Hand each delivery over once the sections before its body have arrived, and its data body as
   * `delivery.stream()` while it arrives, so that a large message is never held whole. Default false.
   */
  streaming?: boolean | undefined;
}

const DURABILITY = { none: 0, configuration: 1, 'unsettled-state': 2 } as const;
const EXPIRY = new Set(['link-detach', 'session-end', 'connection-close', 'never']);

const TARGET_TERMINUS_KEYS: ReadonlySet<string> = new Set([
  'address',
  'durable',
  'expiryPolicy',
  'expiryTimeoutSeconds',
  'dynamic',
  'dynamicNodeProperties',
  'capabilities',
]);
const SOURCE_TERMINUS_KEYS: ReadonlySet<string> = new Set([
  ...TARGET_TERMINUS_KEYS,
  'distributionMode',
  'filter',
  'outcomes',
]);

function terminusFields(t: TerminusOptions, role: 'source' | 'target'): Record<string, unknown> {
  if (typeof t !== 'object' || t === null)
    throw new InvalidArgumentError(`${role} must be an address or an object of terminus options, got ${String(t)}`);
  const known = role === 'source' ? SOURCE_TERMINUS_KEYS : TARGET_TERMINUS_KEYS;
  for (const key of Object.keys(t)) {
    if (known.has(key)) continue;
    if (key === 'timeout')
      throw new InvalidArgumentError(
        `${role}.timeout is now ${role}.expiryTimeoutSeconds (in seconds, as AMQP's field; every other timeout of Quark is in milliseconds)`,
      );
    const sourceOnly = SOURCE_TERMINUS_KEYS.has(key) ? ` (${key} is a source option)` : '';
    throw new InvalidArgumentError(
      `${role} option ${JSON.stringify(key)} is not supported${sourceOnly}; the options are ${[...known].join(', ')}`,
    );
  }
  const seconds = t.expiryTimeoutSeconds;
  if (seconds !== undefined && !(Number.isInteger(seconds) && seconds >= 0 && seconds <= 0xffffffff)) {
    throw new InvalidArgumentError(
      `${role}.expiryTimeoutSeconds must be a whole number of seconds from 0 to 4294967295, got ${String(seconds)}`,
    );
  }
  if (t.durable !== undefined && !(t.durable in DURABILITY))
    throw new InvalidArgumentError(
      `${role}.durable must be 'none', 'configuration' or 'unsettled-state', got ${JSON.stringify(t.durable)}`,
    );
  if (t.expiryPolicy !== undefined && !EXPIRY.has(t.expiryPolicy))
    throw new InvalidArgumentError(
      `${role}.expiryPolicy must be one of ${[...EXPIRY].join(', ')}, got ${JSON.stringify(t.expiryPolicy)}`,
    );
  if (t.address !== undefined && typeof t.address !== 'string')
    throw new InvalidArgumentError(`${role}.address must be a string`);
  return {
    address: t.address,
    durable: t.durable === undefined ? undefined : DURABILITY[t.durable],
    expiryPolicy: t.expiryPolicy,
    timeout: t.expiryTimeoutSeconds,
    dynamic: t.dynamic,
    dynamicNodeProperties: t.dynamicNodeProperties,
    capabilities: t.capabilities,
  };
}

/** The attach `source` for options given as an address or a terminus. */
export function toSource(options: string | TerminusOptions | undefined): Source {
  const t: TerminusOptions = typeof options === 'string' ? { address: options } : (options ?? {});
  if (t.distributionMode !== undefined && t.distributionMode !== 'move' && t.distributionMode !== 'copy') {
    throw new InvalidArgumentError(
      `source.distributionMode must be 'move' or 'copy', got ${JSON.stringify(t.distributionMode)}`,
    );
  }
  return {
    kind: 'source',
    ...terminusFields(t, 'source'),
    distributionMode: t.distributionMode,
    filter: t.filter,
    outcomes: t.outcomes,
  } as Source;
}

/** The attach `target` for options given as an address or a terminus. */
export function toTarget(options: string | TerminusOptions | undefined): Target {
  const t: TerminusOptions = typeof options === 'string' ? { address: options } : (options ?? {});
  return { kind: 'target', ...terminusFields(t, 'target') } as Target;
}

/** Checks a credit option; returns the window (0 for manual credit). */
export function checkCredit(credit: number | undefined): number {
  if (credit === undefined) return 100;
  if (!Number.isInteger(credit) || credit < 0 || credit > 0xffffffff)
    throw new InvalidArgumentError(`credit must be a whole number from 0 to 4294967295, got ${String(credit)}`);
  return credit;
}

const LINK_KEYS = [
  'name',
  'properties',
  'offeredCapabilities',
  'desiredCapabilities',
  'deliveryMode',
  'rcvSettleMode',
  'signal',
  'timeout',
];
const SENDER_KEYS = new Set([...LINK_KEYS, 'target', 'source', 'inDoubt']);
const RECEIVER_KEYS = new Set([
  ...LINK_KEYS,
  'source',
  'target',
  'credit',
  'autoAccept',
  'maxMessageSize',
  'values',
  'maxUnsettled',
  'selector',
  'streaming',
]);

/** Throws for an option the link does not know: a misspelt or unsupported option is never silently ignored. */
function checkKeys(options: object, known: Set<string>, what: string): void {
  for (const key of Object.keys(options)) {
    if (!known.has(key))
      throw new InvalidArgumentError(
        `${what} option ${JSON.stringify(key)} is not supported; the options are ${[...known].join(', ')}`,
      );
  }
  const mode = (options as LinkOptions).deliveryMode;
  if (mode !== undefined && mode !== 'at-least-once' && mode !== 'at-most-once' && mode !== 'mixed') {
    throw new InvalidArgumentError(
      `deliveryMode must be 'at-least-once', 'at-most-once' or 'mixed', got ${JSON.stringify(mode)}`,
    );
  }
  const rcv = (options as LinkOptions).rcvSettleMode;
  if (rcv !== undefined && rcv !== 'first' && rcv !== 'second')
    throw new InvalidArgumentError(`rcvSettleMode must be 'first' or 'second', got ${JSON.stringify(rcv)}`);
}

/** The options of `createSender(target, options)` (or `createSender(options)`), as one object, checked. */
export function senderOptions(
  target: string | null | SenderOptions | undefined,
  options: SenderOptions | undefined,
): SenderOptions {
  let o: SenderOptions;
  if (target === null || typeof target === 'string') o = { ...options, target };
  else if (options !== undefined)
    throw new InvalidArgumentError(
      'createSender takes a target address and options, or one options object, not two objects',
    );
  else o = target ?? {};
  if (o === null || typeof o !== 'object')
    throw new InvalidArgumentError(`sender options must be an object, got ${String(o)}`);
  checkKeys(o, SENDER_KEYS, 'sender');
  if (o.inDoubt !== undefined && o.inDoubt !== 'reject' && o.inDoubt !== 'resend')
    throw new InvalidArgumentError(`inDoubt must be 'reject' or 'resend', got ${JSON.stringify(o.inDoubt)}`);
  return o;
}

/** The options of `createReceiver(source, options)` (or `createReceiver(options)`), as one object, checked. */
export function receiverOptions(
  source: string | ReceiverOptions | undefined,
  options: ReceiverOptions | undefined,
): ReceiverOptions {
  let o: ReceiverOptions;
  if (typeof source === 'string') o = { ...options, source };
  else if (options !== undefined)
    throw new InvalidArgumentError(
      'createReceiver takes a source address and options, or one options object, not two objects',
    );
  else o = source ?? {};
  if (o === null || typeof o !== 'object')
    throw new InvalidArgumentError(`receiver options must be an object, got ${String(o)}`);
  checkKeys(o, RECEIVER_KEYS, 'receiver');
  return o;
}
