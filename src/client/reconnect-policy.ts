import { InvalidArgumentError } from '../errors.js';
/**
 * When and how often a connection tries again after it was lost: the `reconnect` option of
 * `connect()`, checked once here, and the backoff between attempts.
 */

/** How a lost connection is reconnected. Every field is optional; the defaults follow Qpid Proton's. */
export interface ReconnectOptions {
  /** Milliseconds before the second attempt of an outage (the first is made at once). Default 100. */
  initialDelay?: number | undefined;
  /** The longest wait between two attempts, in milliseconds. Default 10000. */
  maxDelay?: number | undefined;
  /** Each wait is the previous one times this (at least 1). Default 2. */
  multiplier?: number | undefined;
  /**
   * How much each wait is varied at random, as a fraction of it (0 to 1), so that many clients of
   * a broker that restarts do not all come back at the same instant. Default 0.2 (plus or minus 20%).
   */
  jitter?: number | undefined;
  /**
   * Attempts per outage before giving up; the connection then ends with the last attempt's
   * error. Default: no limit.
   */
  maxAttempts?: number | undefined;
  /**
   * Milliseconds one reconnect attempt may take (TCP, TLS, SASL and the peer's open) before it is
   * given up and the next one is made. Default 30000. A first `connect()` without
   * `retryFirstConnect` makes one attempt, bounded by `connect()`'s own `timeout` instead.
   */
  attemptTimeout?: number | undefined;
  /**
   * Whether `connect()` itself keeps trying when the peer cannot be reached (a service started
   * before its broker). Default false: the first `connect()` fails fast with its typed error.
   * With true, `connect()` resolves once an attempt succeeds, and rejects when `maxAttempts` is
   * spent, its signal fires or its `timeout` (none by default then) passes.
   */
  retryFirstConnect?: boolean | undefined;
}

/** A checked `reconnect` option, with every default filled in. */
export interface ReconnectPolicy {
  readonly initialDelay: number;
  readonly maxDelay: number;
  readonly multiplier: number;
  readonly jitter: number;
  readonly maxAttempts: number;
  readonly attemptTimeout: number;
  readonly retryFirstConnect: boolean;
}

const DEFAULTS: ReconnectPolicy = {
  initialDelay: 100,
  maxDelay: 10_000,
  multiplier: 2,
  jitter: 0.2,
  maxAttempts: Infinity,
  attemptTimeout: 30_000,
  retryFirstConnect: false,
};

const KNOWN = new Set(Object.keys(DEFAULTS));

/**
 * Checks the `reconnect` option: `true` or absent gives the defaults, `false` gives undefined (no
 * reconnect). Throws an `InvalidArgumentError` naming the field for anything else that is wrong, and for a
 * field Quark does not know (an ignored option would be a silent surprise).
 */
export function reconnectPolicy(option: boolean | ReconnectOptions | undefined): ReconnectPolicy | undefined {
  if (option === false) return undefined;
  if (option === undefined || option === true) return DEFAULTS;
  if (option === null || typeof option !== 'object')
    throw new InvalidArgumentError(
      `reconnect must be true, false or an object of reconnect options, got ${String(option)}`,
    );
  for (const key of Object.keys(option)) {
    if (!KNOWN.has(key))
      throw new InvalidArgumentError(
        `reconnect.${key} is not a reconnect option; the options are ${[...KNOWN].join(', ')}`,
      );
  }
  const ms = (name: keyof ReconnectOptions, min: number): number => {
    const value = option[name] ?? DEFAULTS[name];
    if (typeof value !== 'number' || Number.isNaN(value) || value < min)
      throw new InvalidArgumentError(
        `reconnect.${name} must be a number of at least ${min}, got ${String(option[name])}`,
      );
    return value;
  };
  const policy: ReconnectPolicy = {
    initialDelay: ms('initialDelay', 0),
    maxDelay: ms('maxDelay', 0),
    multiplier: ms('multiplier', 1),
    jitter: ms('jitter', 0),
    maxAttempts: ms('maxAttempts', 1),
    attemptTimeout: ms('attemptTimeout', 1),
    retryFirstConnect: option.retryFirstConnect ?? false,
  };
  if (policy.jitter > 1) throw new InvalidArgumentError(`reconnect.jitter must be from 0 to 1, got ${policy.jitter}`);
  if (!Number.isFinite(policy.attemptTimeout))
    throw new InvalidArgumentError('reconnect.attemptTimeout must be a finite number of milliseconds');
  if (policy.maxAttempts !== Infinity && !Number.isInteger(policy.maxAttempts))
    throw new InvalidArgumentError(`reconnect.maxAttempts must be a whole number, got ${policy.maxAttempts}`);
  if (typeof policy.retryFirstConnect !== 'boolean')
    throw new InvalidArgumentError(
      `reconnect.retryFirstConnect must be true or false, got ${String(option.retryFirstConnect)}`,
    );
  return policy;
}

/**
 * The wait before attempt `attempt` (1 for the first) of an outage: none for the first, then
 * `initialDelay` growing by `multiplier` up to `maxDelay`, varied by `jitter`.
 */
export function reconnectDelay(policy: ReconnectPolicy, attempt: number, random: () => number = Math.random): number {
  if (attempt <= 1) return 0;
  const base = Math.min(policy.maxDelay, policy.initialDelay * policy.multiplier ** (attempt - 2));
  const varied = base * (1 + policy.jitter * (2 * random() - 1));
  return Math.round(Math.min(policy.maxDelay, Math.max(0, varied)));
}
