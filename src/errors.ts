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

  constructor(
    condition: string,
    message: string,
    options?: { description?: string; info?: Record<string, unknown>; cause?: unknown },
  ) {
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

/**
 * A call was given something Quark cannot use: a malformed URL, an unknown or out-of-range option,
 * a port outside 1-65535, a value of the wrong kind, or a setting refused for safety (such as a
 * password in clear text to a remote peer). Thrown (or rejected with) at once, before anything
 * goes on the wire, and the message names the argument and says what to give instead; fix the
 * call, as retrying it cannot help. Condition `quark:invalid-argument`: it is our refusal, not a
 * peer's, so it has no AMQP condition of its own.
 */
export class InvalidArgumentError extends AmqpError {
  constructor(message: string, options?: { cause?: unknown }, condition = 'quark:invalid-argument') {
    super(condition, message, options);
  }
}

/**
 * Quark refused to send a password in clear text: SASL PLAIN without TLS to a peer that is not on
 * this machine (or with `allowInsecurePlain: false`), or a server that offers only PLAIN there.
 * Nothing was sent. Use `amqps://` (TLS), allow a SCRAM mechanism, or set
 * `allowInsecurePlain: true` if the network is trusted. Not retried by reconnect. An
 * {@link InvalidArgumentError} (the connect options are what to change) with condition
 * `quark:insecure-plain`.
 */
export class InsecurePlainError extends InvalidArgumentError {
  constructor(message: string) {
    super(message, undefined, 'quark:insecure-plain');
  }
}

/**
 * A listener (`listen()`, `startBroker()`, `container.listen()`) could not bind its address: the
 * port is in use (`EADDRINUSE`), needs privileges (`EACCES`), or the host is not an address of
 * this machine (`EADDRNOTAVAIL`). `code` is the system's code; `cause` the socket error.
 * Condition `quark:listen-failed`.
 */
export class ListenError extends AmqpError {
  /** The system error code, e.g. `EADDRINUSE`, when there is one. */
  readonly code: string | undefined;

  constructor(message: string, code: string | undefined, cause?: unknown) {
    super('quark:listen-failed', message, cause === undefined ? undefined : { cause });
    this.code = code;
  }
}

/** Which endpoint an error ended: what the caller must rebuild. */
export type EndpointKind = 'connection' | 'session' | 'link';

/** The peer closed, ended or detached an endpoint, with or without an error. */
export class EndpointClosedError extends AmqpError {
  /** Which endpoint ended. */
  readonly endpoint: EndpointKind;
  /** True when the peer ended it; false when we did (or the connection under it went). */
  readonly byPeer: boolean;

  constructor(
    endpoint: EndpointKind,
    condition: string,
    message: string,
    options?: { description?: string; info?: Record<string, unknown>; cause?: unknown; byPeer?: boolean },
  ) {
    super(condition, message, options);
    this.endpoint = endpoint;
    this.byPeer = options?.byPeer ?? true;
  }
}

/** The connection was closed, by the peer (with its condition) or by us. Reconnect to go on. */
export class ConnectionClosedError extends EndpointClosedError {
  constructor(
    condition: string,
    message: string,
    options?: { description?: string; info?: Record<string, unknown>; cause?: unknown; byPeer?: boolean },
  ) {
    super('connection', condition, message, options);
  }
}

/**
 * The connection's socket closed or failed without an AMQP close: the network, the peer process,
 * or a refused connection. Condition `amqp:connection:forced`. The `cause` is the socket error.
 */
export class ConnectionLostError extends ConnectionClosedError {
  /**
   * True when this error fails a message that was on the wire but not settled when the
   * connection went: the peer may or may not have received it (see {@link InDoubtError}).
   */
  readonly inDoubt: boolean;

  constructor(message: string, cause?: unknown) {
    super('amqp:connection:forced', message, { cause, byPeer: false });
    this.inDoubt = false;
  }
}

/**
 * A message's fate is unknown: it was sent, the connection was lost before the peer settled it,
 * and its sender does not resend in-doubt messages (`inDoubt: 'reject'`, the default). The peer
 * may have received and processed it, or not. Resend it yourself if a duplicate is harmless, or
 * create the sender with `inDoubt: 'resend'` to have Quark do so. A `ConnectionLostError` with
 * `inDoubt` true; condition `amqp:connection:forced`.
 */
export class InDoubtError extends ConnectionLostError {
  /** Always true: the message may or may not have reached the peer. */
  override readonly inDoubt: boolean = true;
}

/** SASL authentication failed or no acceptable mechanism was offered. Condition `amqp:unauthorized-access`. */
export class AuthenticationError extends ConnectionClosedError {
  constructor(message: string) {
    super('amqp:unauthorized-access', message, { byPeer: true });
  }
}

/** Why a TLS handshake failed, as far as the TLS layer tells. */
export type TlsFailureReason =
  /** The peer's certificate is not signed by a CA we trust: give its CA in `tls.ca`. */
  | 'unknown-ca'
  /** The certificate is self-signed and not in `tls.ca`. */
  | 'self-signed'
  /** The certificate does not name the host connected to: connect by a name it holds, or set `tls.servername`. */
  | 'hostname-mismatch'
  /** The certificate has expired. */
  | 'expired'
  /** The certificate is not valid yet (or this machine's clock is wrong). */
  | 'not-yet-valid'
  /** The certificate was revoked. */
  | 'revoked'
  /** The server wants a client certificate and we gave none (or it refused ours). */
  | 'certificate-required'
  /** Anything else: versions or ciphers in common, a peer that does not speak TLS. */
  | 'handshake';

/**
 * The TLS handshake failed: the connection never reached AMQP. `reason` says why in a word,
 * `code` is the TLS layer's own code (e.g. `CERT_HAS_EXPIRED`), and the message says what to
 * do. Certificate failures are not retried by reconnect (they do not heal by waiting).
 * Condition `quark:tls-failed`.
 */
export class TlsError extends ConnectionClosedError {
  /** Why, in a word. */
  readonly reason: TlsFailureReason;
  /** The code of the underlying TLS error, e.g. `UNABLE_TO_VERIFY_LEAF_SIGNATURE`, when there is one. */
  readonly code: string | undefined;

  constructor(reason: TlsFailureReason, code: string | undefined, message: string, cause?: unknown) {
    super('quark:tls-failed', message, { cause, byPeer: false });
    this.reason = reason;
    this.code = code;
  }
}

/** Why AMQP over WebSocket failed, in a word. */
export type WebSocketFailureReason =
  /** The optional `ws` package is not installed: `npm install ws`. */
  | 'unavailable'
  /** The HTTP upgrade was refused (an HTTP status other than 101: wrong path, a gateway's 401/403) or never answered. */
  | 'handshake'
  /** The peer did not agree on the `amqp` subprotocol (AMQP WebSocket Binding, section 2). */
  | 'subprotocol'
  /** The peer sent a text message: AMQP goes in binary messages only. */
  | 'text-message'
  /** The peer broke the WebSocket protocol itself (RFC 6455): a bad frame, an over-large message. */
  | 'protocol';

/**
 * AMQP over WebSocket (`ws://`, `wss://`) failed below AMQP: the `ws` package is missing, the
 * HTTP upgrade was refused, the peer did not speak the `amqp` subprotocol, or it sent what the
 * AMQP WebSocket Binding does not allow. `reason` says which and the message says what to do;
 * `status` is the HTTP status of a refused upgrade. Only `handshake` failures are retried by
 * reconnect (a gateway may come back); the others do not heal by waiting.
 * Condition `quark:websocket-failed`.
 */
export class WebSocketError extends ConnectionClosedError {
  /** Why, in a word. */
  readonly reason: WebSocketFailureReason;
  /** The HTTP status of a refused upgrade, when there was one. */
  readonly status: number | undefined;

  constructor(
    reason: WebSocketFailureReason,
    message: string,
    options?: { status?: number | undefined; cause?: unknown },
  ) {
    super('quark:websocket-failed', message, { cause: options?.cause, byPeer: false });
    this.reason = reason;
    this.status = options?.status;
  }
}

/** The sender aborted a message while it was arriving (a streaming receiver's `delivery.stream()` throws it). Condition `quark:delivery-aborted`. */
export class DeliveryAbortedError extends AmqpError {
  constructor(message: string) {
    super('quark:delivery-aborted', message);
  }
}

/** A session ended. Create a new session (or its links on another) to go on. */
export class SessionClosedError extends EndpointClosedError {
  constructor(
    condition: string,
    message: string,
    options?: { description?: string; info?: Record<string, unknown>; byPeer?: boolean },
  ) {
    super('session', condition, message, options);
  }
}

/** A link was detached or closed. Create a new sender or receiver to go on. */
export class LinkClosedError extends EndpointClosedError {
  constructor(
    condition: string,
    message: string,
    options?: { description?: string; info?: Record<string, unknown>; byPeer?: boolean },
  ) {
    super('link', condition, message, options);
  }
}

/** The outcome the peer gave a delivery that was not accepted. */
export type UnacceptedOutcome =
  | {
      /** The peer found the message invalid. */
      kind: 'rejected';
      /** The peer's reason, when it gave one. */
      error?: AmqpErrorFields | undefined;
    }
  | {
      /** The peer gave the message back unprocessed: it may be sent again, here or elsewhere. */
      kind: 'released';
    }
  | {
      /** The peer gave the message back with changes. */
      kind: 'modified';
      /** The delivery counts as a failed attempt (the broker raises its delivery-count). */
      deliveryFailed?: boolean | undefined;
      /** The peer will not take the message again on this link. */
      undeliverableHere?: boolean | undefined;
      /** Annotations the peer wants merged into the message's own. */
      messageAnnotations?: Record<string, unknown> | undefined;
    };

/** The peer did not accept a message: rejected, released or modified. `outcome` is what it said. */
export class DeliveryError extends AmqpError {
  /** What the peer said of the message. */
  readonly outcome: UnacceptedOutcome;

  constructor(
    condition: string,
    message: string,
    outcome: UnacceptedOutcome,
    options?: { description?: string; info?: Record<string, unknown> },
  ) {
    super(condition, message, options);
    this.outcome = outcome;
  }
}

/** The peer rejected the message (it is invalid for the peer); `condition` is the peer's reason. */
export class DeliveryRejectedError extends DeliveryError {}
/** The peer released the message without processing it: it may be sent again. Condition `amqp:released`. */
export class DeliveryReleasedError extends DeliveryError {}
/** The peer modified the message's state without accepting it (e.g. delivery-failed). Condition `amqp:modified`. */
export class DeliveryModifiedError extends DeliveryError {}

/**
 * A message is larger than the peer accepts on the link (the max-message-size of its attach). It
 * was not sent. Condition `amqp:link:message-size-exceeded`; `size` and `maxMessageSize` say by
 * how much.
 */
export class MessageSizeExceededError extends AmqpError {
  /** The encoded message's size, in bytes. */
  readonly size: number;
  /** The largest message the peer takes on the link, in bytes. */
  readonly maxMessageSize: number;

  constructor(message: string, size: number, maxMessageSize: number) {
    super('amqp:link:message-size-exceeded', message);
    this.size = size;
    this.maxMessageSize = maxMessageSize;
  }
}

/**
 * A transaction failed or ended without the caller's commit taking effect: the peer refused to
 * declare it, rolled it back (`amqp:transaction:rollback`), did not know it
 * (`amqp:transaction:unknown-id`), or the connection was lost (`amqp:transaction:rollback`: the peer
 * rolls back what it held). Nothing of it took effect.
 */
export class TransactionError extends AmqpError {}

/** An operation did not finish within its timeout. Condition `quark:timeout`. */
export class TimeoutError extends AmqpError {
  constructor(message: string) {
    super('quark:timeout', message);
  }
}

/** An operation was cancelled through its AbortSignal. Condition `quark:aborted`; `cause` is the signal's reason. */
export class AbortError extends AmqpError {
  constructor(message: string, reason?: unknown) {
    super('quark:aborted', message, reason === undefined ? undefined : { cause: reason });
  }
}

/** An operation was asked of an endpoint in the wrong state (e.g. sending on a closed sender). Condition `amqp:illegal-state`. */
export class IllegalStateError extends AmqpError {
  constructor(message: string) {
    super('amqp:illegal-state', message);
  }
}

/**
 * A feature needs an optional peer dependency that is not installed: the RxJS views
 * (`events$`, `deliveries$()`, `links$`, `connections$`, `sendTo()`), the embedded broker and the
 * Container need `rxjs`. Condition `quark:missing-dependency`; `packageName` names the package to
 * install (`npm install rxjs`).
 */
export class MissingDependencyError extends AmqpError {
  /** The npm package to install. */
  readonly packageName: string;

  constructor(packageName: string, feature: string, cause?: unknown) {
    super(
      'quark:missing-dependency',
      `${feature} needs the package ${packageName}, which is not installed: run \`npm install ${packageName}\``,
      cause === undefined ? undefined : { cause },
    );
    this.packageName = packageName;
  }
}
