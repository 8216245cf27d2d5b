/**
 * TypeScript shapes of the spec's composite types, derived from the generated tables.
 * A decoded composite is a plain object of its fields plus `kind`, the type's name in camelCase.
 */
import type { CompositeFieldsByName } from './spec-tables.js';
import type { AmqpValue, Typed } from './values.js';

/** The name (camelCase) of every composite type of the spec. */
export type CompositeName = keyof CompositeFieldsByName;

/** A composite value: its fields, and `kind` naming its type. */
export type Composite<K extends CompositeName = CompositeName> = K extends CompositeName
  ? CompositeFieldsByName[K] & {
      /** The composite's type: its spec name in camelCase (`source`, `accepted`, `transactionalState`, ...). */
      readonly kind: K;
    }
  : never;

/** A map with symbol keys (the spec's `fields`, `annotations` and `filter-set`), keyed by symbol name. */
export type Fields = Record<string, AmqpValue>;

/** An AMQP error as carried by close, end, detach and rejected. */
export type ErrorCondition = CompositeFieldsByName['error'];

/** Delivery states (spec, messaging section 3.4). */
export type DeliveryState = Composite<
  'received' | 'accepted' | 'rejected' | 'released' | 'modified' | 'declared' | 'transactionalState'
>;

/** Terminal delivery states. */
export type Outcome = Composite<'accepted' | 'rejected' | 'released' | 'modified' | 'declared'>;

/** A link source terminus. */
export type Source = Composite<'source'>;

/** A link target terminus. */
export type Target = Composite<'target'>;

/** The target of a transaction controller's link. */
export type Coordinator = Composite<'coordinator'>;

/** A message-id or correlation-id: a string, a ulong (a bigint, a non-negative integer number, or `ulong()` as exact decoding gives it), bytes, or a `uuid()`. */
export type MessageId = string | bigint | number | Uint8Array | Typed<'uuid'> | Typed<'ulong'>;
