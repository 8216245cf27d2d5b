/**
 * Local transactions (AMQP 1.0 transactions, section 4): a transaction is declared through the
 * session's link to the peer's transaction coordinator; messages sent in it and deliveries
 * accepted in it take effect together at commit, or not at all (rollback). The peer holds the
 * work; a lost connection ends the transaction (the peer rolls it back).
 */
import type { DeliveryState } from '../codec/composite-types.js';
import { described, ulong } from '../codec/values.js';
import { DeliveryRejectedError, TransactionError } from '../errors.js';
import type { CallOptions } from './cancellation.js';
import type { Sender } from './sender.js';

/** Descriptor codes of declare and discharge (spec, transactions 4.5.2 and 4.5.3). */
const DECLARE = 0x31n;
const DISCHARGE = 0x32n;

/** Where a transaction is. */
export type TransactionState = 'active' | 'committed' | 'rolled-back' | 'failed';

/** A transaction. Pass it to `send(message, { transaction })` and `delivery.accept({ transaction })`; then `commit()` or `rollback()`. */
export class Transaction implements AsyncDisposable {
  /** The id the coordinator gave. */
  readonly id: Uint8Array;
  readonly #coordinator: Sender;
  /** The coordinator's link when declared: another one (after a reconnect) means the transaction is gone. */
  readonly #declaredOn: unknown;
  #state: TransactionState = 'active';

  /** @internal Use `session.beginTransaction()` (or the connection's). */
  constructor(coordinator: Sender, id: Uint8Array) {
    this.#coordinator = coordinator;
    this.#declaredOn = coordinator.engineLink;
    this.id = id;
  }

  /** `active` until committed, rolled back or failed. */
  get state(): TransactionState {
    return this.#state;
  }

  /** @internal The transactional state a send or an accept in this transaction carries; throws if the transaction cannot take work. */
  stateFor(outcome: DeliveryState | undefined): DeliveryState {
    this.#checkUsable('use');
    return { kind: 'transactionalState', txnId: this.id, outcome } as DeliveryState;
  }

  /** @internal Whether this transaction was declared on `sender`'s session's coordinator. */
  belongsTo(coordinator: Sender): boolean {
    return coordinator === this.#coordinator;
  }

  /**
   * Makes the transaction's work take effect. Rejects with `TransactionError` when the peer
   * rolled it back instead. Cancelled by its signal or timeout, the outcome is unknown: the
   * discharge may have reached the peer (which then committed) or not (the peer rolls the
   * transaction back when the coordinator link or connection closes); the transaction is
   * `failed` and takes no more work.
   */
  commit(options?: CallOptions): Promise<void> {
    return this.#discharge(false, options);
  }

  /**
   * Undoes the transaction's work: its messages are not delivered, its accepts are undone (the
   * messages come again). Cancelled by its signal or timeout, the transaction is `failed` and
   * rolled back all the same, now or when the coordinator link or connection closes.
   */
  rollback(options?: CallOptions): Promise<void> {
    return this.#discharge(true, options);
  }

  async #discharge(fail: boolean, options: CallOptions | undefined): Promise<void> {
    this.#checkUsable(fail ? 'roll back' : 'commit');
    try {
      // Accepts made in the transaction wait, coalesced, for the end of the turn: they must reach
      // the peer before the discharge does, or it would end the transaction without them.
      this.#coordinator.session.connection.engine.flushSessions();
      await this.#coordinator.send({ body: described(ulong(DISCHARGE), [this.id, fail]) }, options);
      this.#state = fail ? 'rolled-back' : 'committed';
    } catch (e) {
      this.#state = 'failed';
      if (e instanceof DeliveryRejectedError) {
        const condition = e.condition.startsWith('amqp:transaction:') ? e.condition : 'amqp:transaction:rollback';
        throw new TransactionError(
          condition,
          `The peer did not ${fail ? 'roll back' : 'commit'} the transaction: ${e.description ?? e.condition}. Nothing of it took effect.`,
          { cause: e },
        );
      }
      throw e;
    }
  }

  #checkUsable(what: string): void {
    if (this.#state !== 'active')
      throw new TransactionError('amqp:transaction:unknown-id', `Cannot ${what} a transaction that is ${this.#state}.`);
    if (this.#coordinator.engineLink !== this.#declaredOn || !this.#coordinator.live) {
      this.#state = 'failed';
      throw new TransactionError(
        'amqp:transaction:rollback',
        `The transaction was lost with its connection (the peer rolls back what it held); nothing of it took effect. Begin a new transaction.`,
      );
    }
  }

  /** Rolls back a transaction still active (`await using tx = await session.beginTransaction()`). */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#state === 'active') await this.rollback().catch(() => undefined);
  }
}

/** Declares a transaction on a coordinator link. */
export async function declareTransaction(coordinator: Sender, options: CallOptions | undefined): Promise<Transaction> {
  const result = await coordinator.send({ body: described(ulong(DECLARE), []) }, options).catch((e: unknown) => {
    if (e instanceof DeliveryRejectedError)
      throw new TransactionError(
        e.condition,
        `The peer refused to declare a transaction: ${e.description ?? e.condition}.`,
        { cause: e },
      );
    throw e;
  });
  if (result?.kind !== 'declared')
    throw new TransactionError(
      'amqp:not-implemented',
      `The peer answered a transaction declare with ${result?.kind ?? 'nothing'}, not declared: it does not run transactions.`,
    );
  return new Transaction(coordinator, (result as { txnId: Uint8Array }).txnId);
}
