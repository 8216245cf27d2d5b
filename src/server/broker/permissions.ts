import { InvalidArgumentError } from '../../errors.js';
/**
 * Who may do what in the broker: per user, the address patterns they may send to and receive
 * from, and whether they may create dynamic (temporary) nodes. Patterns are exact addresses or
 * use `*` for any run of characters (`orders.*`, `topic://news/*`, `*`).
 */

/** What one user may do. */
export interface AddressPermissions {
  /** Address patterns the user may send to (attach a sender, or relay a message via `to`). */
  send?: string[] | undefined;
  /** Address patterns the user may receive from (consume, browse or subscribe). */
  receive?: string[] | undefined;
  /** Whether the user may create dynamic nodes (temporary reply queues). Default false. */
  dynamic?: boolean | undefined;
}

/** The identity of clients that logged in with ANONYMOUS or without SASL, in `permissions`. */
export const ANONYMOUS_USER = 'anonymous';

interface CompiledPermissions {
  send: RegExp[];
  receive: RegExp[];
  dynamic: boolean;
}

function compile(pattern: string, where: string): RegExp {
  if (typeof pattern !== 'string' || pattern === '')
    throw new InvalidArgumentError(`${where}: a pattern must be a non-empty string, got ${JSON.stringify(pattern)}`);
  const escaped = pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${escaped.join('.*')}$`, 's');
}

export class Permissions {
  readonly #users = new Map<string, CompiledPermissions>();

  /** Checks and compiles `permissions`; throws an `InvalidArgumentError` naming what is wrong. */
  constructor(permissions: Readonly<Record<string, AddressPermissions>>) {
    for (const [user, p] of Object.entries(permissions)) {
      const where = `permissions[${JSON.stringify(user)}]`;
      if (typeof p !== 'object' || p === null)
        throw new InvalidArgumentError(`${where} must be an object with send, receive and dynamic`);
      const unknown = Object.keys(p).filter((k) => k !== 'send' && k !== 'receive' && k !== 'dynamic');
      if (unknown.length > 0)
        throw new InvalidArgumentError(
          `${where}: unknown key ${unknown.map((k) => JSON.stringify(k)).join(', ')} (known: send, receive, dynamic)`,
        );
      for (const field of ['send', 'receive'] as const) {
        const patterns: unknown = p[field];
        if (patterns !== undefined && !Array.isArray(patterns))
          throw new InvalidArgumentError(
            `${where}.${field} must be an array of address patterns, e.g. ["orders", "replies.*"], got ${JSON.stringify(patterns)}`,
          );
      }
      if (p.dynamic !== undefined && typeof p.dynamic !== 'boolean')
        throw new InvalidArgumentError(`${where}.dynamic must be true or false, got ${JSON.stringify(p.dynamic)}`);
      this.#users.set(user, {
        send: (p.send ?? []).map((pattern) => compile(pattern, `${where}.send`)),
        receive: (p.receive ?? []).map((pattern) => compile(pattern, `${where}.receive`)),
        dynamic: p.dynamic === true,
      });
    }
  }

  /** Whether `user` may send to `address`. */
  maySend(user: string, address: string): boolean {
    return this.#users.get(user)?.send.some((p) => p.test(address)) ?? false;
  }

  /** Whether `user` may receive from `address`. */
  mayReceive(user: string, address: string): boolean {
    return this.#users.get(user)?.receive.some((p) => p.test(address)) ?? false;
  }

  /** Whether `user` may create dynamic nodes. */
  mayCreateDynamic(user: string): boolean {
    return this.#users.get(user)?.dynamic ?? false;
  }
}
