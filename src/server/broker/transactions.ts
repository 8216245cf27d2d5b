/**
 * The broker's transaction coordinator (AMQP 1.0 transactions, local transactions only): a
 * coordinator link takes `declare` and `discharge` messages; sends made in a transaction are held
 * until it commits, accepts made in it are applied at commit and undone (the message is delivered
 * again) at rollback. A transaction whose connection goes is rolled back.
 */
import { Buffer } from 'node:buffer';
import type { DeliveryState } from '../../codec/composite-types.js';
import { Described, Typed, type AmqpValue } from '../../codec/values.js';
import type { Connection } from '../../client/connection.js';
import type { Delivery } from '../../client/delivery.js';
import { settleWith } from '../../client/listening-side.js';
import type { Receiver } from '../../client/receiver.js';

/** What a transaction does at its end. */
interface TransactionWork {
  /** Held sends (enqueue at commit) and accepts (settle at commit, requeue at rollback). */
  commit(): void;
  rollback(): void;
}

interface OpenTransaction {
  readonly id: Uint8Array;
  readonly owner: Connection;
  readonly work: TransactionWork[];
}

const DECLARE = 0x31n;
const DISCHARGE = 0x32n;

const keyOf = (id: Uint8Array): string => Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('hex');

/** The composite code of a described body (declare, discharge), by numeric or symbolic descriptor. */
function bodyCode(body: AmqpValue | undefined): { code: bigint; fields: AmqpValue[] } | undefined {
  if (!(body instanceof Described) || !Array.isArray(body.value)) return undefined;
  const d = body.descriptor;
  const v = d instanceof Typed ? d.value : d;
  const code =
    v === 'amqp:declare:list'
      ? DECLARE
      : v === 'amqp:discharge:list'
        ? DISCHARGE
        : typeof v === 'bigint'
          ? v
          : typeof v === 'number'
            ? BigInt(v)
            : undefined;
  return code === undefined ? undefined : { code, fields: body.value };
}

export class TransactionCoordinator {
  readonly #open = new Map<string, OpenTransaction>();
  #next = 0;

  /** Transactions declared and not discharged. */
  get count(): number {
    return this.#open.size;
  }

  /** Serves a coordinator link: each message on it is a declare or a discharge. */
  serve(receiver: Receiver, owner: Connection): void {
    receiver.deliveries$().subscribe({
      next: (delivery) => this.#onControl(delivery, owner),
      error: () => undefined,
    });
    receiver.addCredit(100);
    // The coordinator link (or its connection) went: what its transactions held is rolled back.
    receiver.onClosed(() => this.rollBackAll(owner));
  }

  #onControl(delivery: Delivery, owner: Connection): void {
    const receiver = delivery.receiver;
    if (receiver.credit < 50 && receiver.isOpen) receiver.addCredit(100 - receiver.credit);
    let control: ReturnType<typeof bodyCode>;
    try {
      control = bodyCode(delivery.message.body);
    } catch {
      control = undefined;
    }
    if (control?.code === DECLARE) {
      if (control.fields[0] !== undefined && control.fields[0] !== null) {
        delivery.reject({
          condition: 'amqp:not-implemented',
          description:
            'global (distributed) transactions are not supported; declare a local transaction (no global-id)',
        });
        return;
      }
      const id = Buffer.alloc(8);
      id.writeUInt32BE(process.pid & 0xffffffff, 0);
      id.writeUInt32BE(this.#next++ >>> 0, 4);
      this.#open.set(keyOf(id), { id, owner, work: [] });
      settleWith(delivery, { kind: 'declared', txnId: id } as DeliveryState);
      return;
    }
    if (control?.code === DISCHARGE) {
      // Accepts made in the transaction may have arrived in the same read as the discharge: their
      // outcomes reach the queues a few promise turns later. Discharge once those have run.
      setImmediate(() => this.#discharge(delivery, control.fields, owner));
      return;
    }
    delivery.reject({
      condition: 'amqp:decode-error',
      description: 'a coordinator link takes declare and discharge messages only',
    });
  }

  /** Commits (or, with `fail`, rolls back) the transaction a discharge names, and answers it. */
  #discharge(delivery: Delivery, fields: AmqpValue[], owner: Connection): void {
    if (delivery.settled || !delivery.receiver.isOpen) return;
    const [id, fail] = fields;
    const txn = id instanceof Uint8Array ? this.#open.get(keyOf(id)) : undefined;
    if (!txn || txn.owner !== owner) {
      delivery.reject({
        condition: 'amqp:transaction:unknown-id',
        description: 'no such transaction is open on this connection',
      });
      return;
    }
    this.#open.delete(keyOf(txn.id));
    if (fail === true) for (const w of txn.work) w.rollback();
    else for (const w of txn.work) w.commit();
    delivery.accept();
  }

  /**
   * The open transaction a delivery's state names, when it names one: `undefined` for a plain
   * delivery, `null` for an unknown or foreign transaction (to refuse).
   */
  transactionOf(state: DeliveryState | undefined, owner: Connection): OpenTransaction | null | undefined {
    if (state?.kind !== 'transactionalState') return undefined;
    const id = (state as { txnId?: Uint8Array }).txnId;
    const txn = id instanceof Uint8Array ? this.#open.get(keyOf(id)) : undefined;
    return txn && txn.owner === owner ? txn : null;
  }

  /** Adds work to a transaction (see `transactionOf`). */
  hold(txn: OpenTransaction, work: TransactionWork): void {
    txn.work.push(work);
  }

  /** The coordinator link or its connection went: the connection's transactions are rolled back. */
  rollBackAll(owner: Connection): void {
    for (const [key, txn] of this.#open) {
      if (txn.owner !== owner) continue;
      this.#open.delete(key);
      for (const w of txn.work) w.rollback();
    }
  }

  /** The broker stops: every transaction is forgotten. */
  clear(): void {
    this.#open.clear();
  }
}

/** The transactional state that answers a send held in `id`: accepted if the transaction commits. */
export function heldState(id: Uint8Array): DeliveryState {
  return { kind: 'transactionalState', txnId: id, outcome: { kind: 'accepted' } } as DeliveryState;
}
