/**
 * Quark's one error tree. Every failure a user can meet is an {@link AmqpError} carrying the AMQP
 * error condition (a symbol such as `amqp:decode-error`), a description saying what happened and
 * what to do, and the peer's `info` map when the peer sent one.
 *
 * @packageDocumentation
 */

/** The fields of an AMQP `error` (spec, transport section 2.8.14). */
export interface AmqpErrorFields {
  /** The error condition, a symbol such as `amqp:not-found`. */
  condition: string;
  /** A description for a person, when there is one. */
  description?: string;
  /** Extra information keyed by symbol, when the peer sent any. */
  info?: Record<string, unknown>;
}

/** The base of every error Quark throws or rejects with. */
export class AmqpError extends Error {
  /** The AMQP error condition, e.g. `amqp:decode-error`. */
  readonly condition: string;
  /** The peer's (or our) description of the error, when there is one. */
  readonly description: string | undefined;
  /** Extra information from the peer's error, when there is any. */
  readonly info: Record<string, unknown> | undefined;

  constructor(condition: string, message: string, options?: { description?: string; info?: Record<string, unknown>; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.condition = condition;
    this.description = options?.description ?? message;
    this.info = options?.info;
  }
}

/**
 * Bytes that are not valid AMQP: truncated, malformed, over a limit, or of the wrong type for
 * the field that holds them. Condition `amqp:decode-error` (or `amqp:invalid-field` when a
 * mandatory field is missing). `offset` is where in the input the problem was found.
 */
export class DecodeError extends AmqpError {
  /** Byte offset in the decoded input at which the problem was found. */
  readonly offset: number;

  constructor(message: string, offset: number, condition = 'amqp:decode-error') {
    super(condition, `${message} (at byte ${offset})`);
    this.offset = offset;
  }
}

/**
 * A value that cannot be encoded as AMQP: a JavaScript value with no AMQP form (a function, a
 * class instance), a number out of range for the type asked for, or a message missing a
 * mandatory field. Condition `amqp:invalid-field`. Thrown at once, before anything is sent.
 */
export class EncodeError extends AmqpError {
  constructor(message: string) {
    super('amqp:invalid-field', message);
  }
}
