/**
 * When a receiver's acknowledgements (the dispositions settling what it received) go out: at once
 * when the sender may be waiting for them, batched when it plainly is not.
 *
 * Why: a sender that writes each message in a socket write of its own (rhea, RabbitMQ) reaches a
 * fast receiver a message or two per read. Answering every read with a disposition frame costs
 * both sides a system call and a frame per one or two messages; held for up to a millisecond
 * while messages keep coming, one frame settles dozens (measured in bench/cross-peer.mjs).
 *
 * The rule, decided at the end of each turn of the event loop (one read, usually):
 * - anything else to write (a transfer, a flow, a drain's answer, a close) goes out now, and the
 *   acknowledgements with it;
 * - until the sender is seen pipelining, now: a sender that sends one message at a time and
 *   waits for its outcome is answered at once, so its round trip is not slowed;
 * - once it is (several deliveries arrived in one turn, or more arrived while acknowledgements
 *   were held: it did not wait for them), held, until `batch` of them wait or the delay passes.
 *   A slow pipelining sender is seen in turns of one message each: those are held too.
 *
 * It adapts. `batch` doubles each time it is reached (messages keep coming). When the delay passes
 * after the sender went quiet (for much longer than it takes between messages), it may be waiting
 * for our answers (it sends one at a time after all, or keeps at most K messages unsettled): it
 * is taken as not pipelining until seen doing so again, and when that happens twice within
 * 100 ms with as many waiting, `batch` drops below what was waiting, so the answers go out
 * before such a sender runs dry. 100 ms after the last stall `batch` may grow again.
 *
 * Once the batch has grown large (the sender streams), the transport may also stop reading while
 * it holds acknowledgements (`pauseReading`), so that three milliseconds of messages come in one
 * read; one, for a sender seen to keep a window of messages unsettled and wait for their outcomes
 * (see `written`).
 */
/** How long acknowledgements may be held (the resolution of a Node.js timer). */
export const ACKNOWLEDGEMENT_DELAY_MS = 1;
/**
 * How long they are held while reading pauses (see `pauseReading`): each hold is a timer, a write
 * and a read. Against a rhea sender, 2 ms instead of 1 took an eighth off a receiver's CPU per
 * message, and 3 ms another eighth (bench/cross-peer.mjs rx-rhea: 0.29-0.30x of rhea's receiver
 * against 0.34-0.35x). Longer is not worth its latency: a streaming sender's messages wait in the
 * socket this long, and the gain shrinks as the per-read cost is spread over more messages.
 */
export const PAUSED_HOLD_MS = 3;
/** The smallest batch: two acknowledgements. */
const MIN_BATCH = 2;
/** The largest batch: more would only delay the sender's bookkeeping. */
const MAX_BATCH = 256;
/**
 * From this batch on, the sender is streaming for sure (the batch grew to it because messages
 * kept coming): reading may pause while acknowledgements are held (see `pauseReading`).
 */
const PAUSE_READING_FROM_BATCH = 32;
/**
 * Two stalls this close (with as many waiting) are a sender that waits for its answers; a batch
 * limit learnt from them holds this long. A sender that really keeps few messages unsettled
 * costs two delays per such period (2% of its time) at worst.
 */
const STALL_MEMORY_MS = 100;
/**
 * Paused holds in a row that ended with the same number of deliveries received over the cycle
 * (see `written`): a sender that sends up to a window and waits for our answers, not one that
 * streams (whose count varies with the timers).
 */
const WINDOW_EVIDENCE = 3;
/** How long paused holds stay short after a sender ran dry during a long one (then a long one shows whether it still does). */
const SHORT_HOLDS_MS = 1000;
/**
 * How long reading does not pause after a sender ran dry even during a short hold (see
 * `written`). Short, as that may be a moment's (a new link starting): then reading pauses again,
 * and a sender that still runs dry is seen to within a few holds.
 */
const READ_ON_MS = 250;
/** Stalls are learnt from only once this many turns received deliveries (before, the usual gap between them is not known). */
const WARM_TURNS = 16;

/** The input and output counts of a protocol engine the batching reads (see `ProtocolEngine`). */
export interface AcknowledgementSource {
  /** Deliveries received so far. */
  readonly deliveriesReceived: number;
  /** Acknowledgements waiting when they are all that waits; -1 when other output waits; 0: none. */
  readonly deferrableAcknowledgements: number;
  /** How many times a receiving link's credit ran out (its sender had to wait for our flow). */
  readonly creditRunOuts: number;
}

export class AcknowledgementBatching {
  #batch = MIN_BATCH;
  /** The largest batch allowed now (lowered after a stall, for STALL_MEMORY_MS). */
  #ceiling = MAX_BATCH;
  #stalledAt = -Infinity;
  /** How many acknowledgements waited at the last stall. */
  #stalledWaiting = 0;
  /** `deliveriesReceived` at the last turn's end. */
  #seen = 0;
  /** Whether acknowledgements are being held (the caller's timer runs). */
  #holding = false;
  /** Whether the sender was seen sending on without waiting for our acknowledgements. */
  #pipelining = false;
  /** When the last delivery arrived (performance.now()). */
  #lastArrival = -Infinity;
  /** The usual time between turns that received deliveries, in ms. */
  #gap = 0;
  /** Turns that received deliveries, up to WARM_TURNS: the usual gap is known after that many. */
  #arrivalTurns = 0;
  /** A paused hold ended at the last write: the next turn's end reads what came during it (see `written`). */
  #pausedHoldEnded = false;
  /** How long the last paused hold was. */
  #pausedHoldMs = PAUSED_HOLD_MS;
  /** `deliveriesReceived` when the last paused hold ended (NaN: the last write ended no paused hold). */
  #pausedHoldEnd = NaN;
  /** The same at the paused hold before it, when the two were in a row: the cycle's start. */
  #cycleStart = NaN;
  #lastCycleCount = -1;
  /** Cycles in a row with `#lastCycleCount` deliveries. */
  #sameCycleCounts = 0;
  /** `creditRunOuts` when the last paused hold ended. */
  #runOutsAtHoldEnd = 0;
  /** Short paused holds in a row in which a link's credit ran out. */
  #shortHoldsRanDry = 0;
  /** When a sender last ran dry during a long paused hold: holds are short for SHORT_HOLDS_MS. */
  #shortHoldsSince = -Infinity;
  /** When a sender last ran dry even during a short one: reading does not pause for READ_ON_MS. */
  #readOnSince = -Infinity;

  /**
   * At the end of a turn: true to write now, false to hold the acknowledgements (the caller
   * then makes sure `delayExpired` runs within ACKNOWLEDGEMENT_DELAY_MS).
   */
  writeNow(source: AcknowledgementSource): boolean {
    const received = source.deliveriesReceived;
    const arrived = received - this.#seen;
    this.#seen = received;
    if (this.#pausedHoldEnded) this.#afterPausedHold(source);
    const waiting = source.deferrableAcknowledgements;
    if (waiting <= 0) return true; // other output (or none): everything goes now
    if (arrived > 0) this.#arrival(performance.now());
    if (arrived >= 2 || (arrived > 0 && this.#holding)) this.#pipelining = true;
    else if (!this.#pipelining) return true; // the sender may be waiting for this answer
    if (waiting >= this.#batch) {
      this.#grow();
      return true;
    }
    this.#holding = true;
    return false;
  }

  /**
   * Whether the caller may stop reading while the acknowledgements are held (until the delay
   * passes): the sender is streaming, so its next messages are read a millisecond later in one
   * read instead of a read each (the wake-ups, not the messages, are most of a fast receiver's
   * cost then). Only once the batch grew large: a sender that waits for its answers is never kept
   * waiting by it.
   */
  get pauseReading(): boolean {
    return (
      this.#holding && this.#batch >= PAUSE_READING_FROM_BATCH && performance.now() - this.#readOnSince >= READ_ON_MS
    );
  }

  /**
   * How long to hold, once `writeNow` answered false: PAUSED_HOLD_MS while reading pauses, unless
   * a sender lately ran dry during such a hold (see `written`).
   */
  holdDelay(readingPaused: boolean): number {
    if (!readingPaused) return ACKNOWLEDGEMENT_DELAY_MS;
    this.#pausedHoldMs =
      performance.now() - this.#shortHoldsSince < SHORT_HOLDS_MS ? ACKNOWLEDGEMENT_DELAY_MS : PAUSED_HOLD_MS;
    return this.#pausedHoldMs;
  }

  /**
   * The delay passed while holding: the caller writes now. Learns whether the sender stalled,
   * unless `readingPaused` (the quiet was ours then, not the sender's).
   */
  delayExpired(source: AcknowledgementSource, readingPaused: boolean): void {
    if (!this.#holding || readingPaused) return;
    const now = performance.now();
    const waiting = source.deferrableAcknowledgements;
    // Quiet for much longer than between its messages: the sender may have been waiting for
    // these. Answer sooner next time. (A sender slower than the delay is never taken as stalled.)
    if (
      waiting > 0 &&
      this.#arrivalTurns >= WARM_TURNS &&
      now - this.#lastArrival >= Math.max(ACKNOWLEDGEMENT_DELAY_MS / 2, 4 * this.#gap)
    ) {
      this.#pipelining = false;
      // Twice in a row with as many waiting: a sender that keeps that many unsettled and waits for
      // their answers, not one that paused (a collection, a burst's end). Its answers go out
      // before it runs dry from now on.
      if (now - this.#stalledAt < STALL_MEMORY_MS && waiting === this.#stalledWaiting) this.#answerBefore(waiting);
      this.#stalledAt = now;
      this.#stalledWaiting = waiting;
    }
  }

  /** A turn received deliveries at `now`: keeps the usual time between such turns. */
  #arrival(now: number): void {
    const gap = now - this.#lastArrival;
    // A moving average over about the last eight; a pause longer than the delay is not a gap between messages.
    if (gap < ACKNOWLEDGEMENT_DELAY_MS) this.#gap += (gap - this.#gap) / 8;
    this.#lastArrival = now;
    if (this.#arrivalTurns < WARM_TURNS) this.#arrivalTurns++;
  }

  /**
   * Everything was written (whatever the reason): nothing is held any more. `readingPaused`: a
   * paused hold ended (reading resumes now).
   *
   * A paused hold hides whether the sender ran dry meanwhile, so it is seen afterwards, at the
   * end of the turn that read what came during it (`#afterPausedHold`), in two ways:
   * - a link's credit ran out in that read: the sender stopped for want of our flow (a credit
   *   window smaller than what comes during a hold, such as the default 100 against a rhea
   *   sender's 80 messages a millisecond);
   * - a sender that keeps a window of K messages unsettled and waits for their outcomes sends
   *   exactly K from one paused hold's end to the turn after the next one's (what we answered,
   *   and what it sent with the room that gave it), where a streaming sender's count follows the
   *   timers and varies: WINDOW_EVIDENCE such cycles in a row.
   * Either way (`#ranDry`): after a long hold, holds are short; after a short one, reading does
   * not pause for a while, and a window's answers go out when half of it waits. Measured against
   * rhea senders: one keeping 100 unsettled moves 63k to 68k msg/s instead of 38k (rhea's own
   * receiver: 60k); into the default credit of 100, 62k instead of 43k.
   */
  written(source: AcknowledgementSource, readingPaused: boolean): void {
    this.#holding = false;
    this.#pausedHoldEnded = readingPaused;
    if (!readingPaused) {
      // Not a paused hold's end: the cycles in a row are broken.
      this.#pausedHoldEnd = NaN;
      this.#sameCycleCounts = 0;
      return;
    }
    this.#cycleStart = this.#pausedHoldEnd;
    this.#pausedHoldEnd = source.deliveriesReceived;
    this.#runOutsAtHoldEnd = source.creditRunOuts;
  }

  /** The end of the turn that read what came during the paused hold that ended at the last write. */
  #afterPausedHold(source: AcknowledgementSource): void {
    this.#pausedHoldEnded = false;
    if (source.creditRunOuts !== this.#runOutsAtHoldEnd) {
      // Two short holds in a row, not one: a single run-out may be a moment's.
      if (this.#pausedHoldMs > ACKNOWLEDGEMENT_DELAY_MS || ++this.#shortHoldsRanDry >= 2) this.#ranDry();
    } else this.#shortHoldsRanDry = 0;
    if (Number.isNaN(this.#cycleStart)) return;
    const count = source.deliveriesReceived - this.#cycleStart;
    if (count !== this.#lastCycleCount || this.#sameCycleCounts === 0) {
      this.#lastCycleCount = count;
      this.#sameCycleCounts = 1;
    } else if (++this.#sameCycleCounts >= WINDOW_EVIDENCE) {
      this.#sameCycleCounts = 0; // evidence from here on is of the holds it gets now
      this.#ranDry(count);
    }
  }

  /**
   * The sender ran dry during the paused hold that just ended (`window`: it keeps that many
   * messages unsettled). After a long hold, holds are short for SHORT_HOLDS_MS. After a short
   * one, reading does not pause for READ_ON_MS, and a window's answers go when half of it waits.
   */
  #ranDry(window?: number): void {
    const now = performance.now();
    this.#shortHoldsSince = now;
    this.#shortHoldsRanDry = 0;
    if (this.#pausedHoldMs > ACKNOWLEDGEMENT_DELAY_MS) return;
    this.#readOnSince = now;
    if (window !== undefined) this.#answerBefore(window);
  }

  /** Answers go out when half of `waiting` waits: a sender that waits with that many unsettled never runs dry. */
  #answerBefore(waiting: number): void {
    this.#ceiling = Math.max(MIN_BATCH, Math.floor(waiting / 2));
    this.#batch = Math.min(this.#batch, this.#ceiling);
  }

  #grow(): void {
    if (this.#batch >= this.#ceiling) {
      const now = performance.now();
      if (
        this.#ceiling === MAX_BATCH ||
        now - this.#stalledAt < STALL_MEMORY_MS ||
        now - this.#readOnSince < READ_ON_MS
      )
        return;
      this.#ceiling = MAX_BATCH;
    }
    this.#batch = Math.min(this.#batch * 2, this.#ceiling);
  }
}
