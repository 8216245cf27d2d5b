/** The rule that decides when a receiver's acknowledgements go out (src/transport/acknowledgement-batching.ts). */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AcknowledgementBatching, type AcknowledgementSource } from '../../src/transport/acknowledgement-batching.js';

/** A stand-in engine: what arrived so far and what waits. */
class Source implements AcknowledgementSource {
  deliveriesReceived = 0;
  deferrableAcknowledgements = 0;
  creditRunOuts = 0;
  /** A turn: `arrived` deliveries came in and were all settled by the application. */
  turn(arrived: number): this {
    this.deliveriesReceived += arrived;
    this.deferrableAcknowledgements += arrived;
    return this;
  }
  written(batching: AcknowledgementBatching): void {
    this.deferrableAcknowledgements = 0;
    batching.written(this, false);
  }
}

/** Runs a turn's end as the transport does: writes when told to, else keeps holding. */
function endTurn(batching: AcknowledgementBatching, source: Source): boolean {
  const now = batching.writeNow(source);
  if (now) source.written(batching);
  return now;
}

/** Sixteen turns of a sequential sender (nothing held): the batching now knows the usual time between messages. */
function warmUp(batching: AcknowledgementBatching, source: Source): void {
  for (let i = 0; i < 16; i++) {
    batching.writeNow(source.turn(1));
    source.written(batching);
  }
}

describe('acknowledgement batching', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['performance'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('answers a sender that sends one message at a time at once, every time', () => {
    const batching = new AcknowledgementBatching();
    const source = new Source();
    for (let i = 0; i < 100; i++) {
      expect(endTurn(batching, source.turn(1))).toBe(true);
      vi.advanceTimersByTime(0.1); // the round trip
    }
  });

  it('writes at once whatever else waits (a flow, a transfer), acknowledgements or not', () => {
    const batching = new AcknowledgementBatching();
    const source = new Source();
    endTurn(batching, source.turn(5)); // now pipelining
    source.turn(1);
    source.deferrableAcknowledgements = -1; // e.g. a credit top-up waits too
    expect(batching.writeNow(source)).toBe(true);
  });

  it("holds a pipelining sender's acknowledgements until a batch is reached, and the batch grows while messages keep coming", () => {
    const batching = new AcknowledgementBatching();
    const source = new Source();
    expect(endTurn(batching, source.turn(2))).toBe(true); // two before any answer: pipelining; the first batch (2) is reached
    const writtenAt: number[] = [];
    for (let i = 0; i < 600; i++) {
      if (endTurn(batching, source.turn(1))) writtenAt.push(i);
      vi.advanceTimersByTime(0.01);
    }
    // Batches of 4, 8, 16, ... 256, then 256 each: far fewer writes than messages, and growing gaps.
    expect(writtenAt.length).toBeLessThan(12);
    expect(writtenAt.slice(0, 4)).toEqual([3, 11, 27, 59]);
  });

  it('learns that a sender keeping few messages unsettled stalls: once, it is answered at once; twice, it is answered before it runs dry', () => {
    const batching = new AcknowledgementBatching();
    const source = new Source();
    warmUp(batching, source);
    // A sender that keeps at most 6 unsettled, writing them 2 per read.
    expect(endTurn(batching, source.turn(2))).toBe(true); // batch 2 reached; now 4
    expect(endTurn(batching, source.turn(2))).toBe(false);
    expect(endTurn(batching, source.turn(2))).toBe(true); // 4 reached; now 8
    expect(endTurn(batching, source.turn(2))).toBe(false);
    expect(endTurn(batching, source.turn(2))).toBe(false);
    expect(endTurn(batching, source.turn(2))).toBe(false); // 6 held: the sender waits for them
    vi.advanceTimersByTime(1);
    batching.delayExpired(source, false); // quiet for the whole delay: a stall
    source.written(batching);
    // Taken as not pipelining: a single message is answered at once.
    expect(endTurn(batching, source.turn(1))).toBe(true);
    // Seen pipelining again, it stalls again with 6 held (a pause would not come back so soon).
    expect(endTurn(batching, source.turn(2))).toBe(false);
    expect(endTurn(batching, source.turn(2))).toBe(false);
    expect(endTurn(batching, source.turn(2))).toBe(false);
    vi.advanceTimersByTime(1);
    batching.delayExpired(source, false);
    source.written(batching);
    // The batch is now 3, below the 6 it held: the answers go out before the sender runs dry, and it does not grow.
    for (let i = 0; i < 10; i++) {
      expect(endTurn(batching, source.turn(2))).toBe(false);
      expect(endTurn(batching, source.turn(2))).toBe(true);
    }
    // 100 ms after the last stall it may grow again: 3, then 6.
    vi.advanceTimersByTime(101);
    expect(endTurn(batching, source.turn(2))).toBe(false);
    expect(endTurn(batching, source.turn(2))).toBe(true);
    expect(endTurn(batching, source.turn(2))).toBe(false);
    expect(endTurn(batching, source.turn(2))).toBe(false);
    expect(endTurn(batching, source.turn(2))).toBe(true);
  });

  it('takes pauses of a pipelining sender (stalls with different numbers waiting) for no more than that: the batch stays', () => {
    const batching = new AcknowledgementBatching();
    const source = new Source();
    warmUp(batching, source);
    expect(endTurn(batching, source.turn(2))).toBe(true); // batch 4
    expect(endTurn(batching, source.turn(2))).toBe(false);
    expect(endTurn(batching, source.turn(2))).toBe(true); // batch 8
    expect(endTurn(batching, source.turn(2))).toBe(false);
    vi.advanceTimersByTime(3); // a pause (a collection)
    batching.delayExpired(source, false);
    source.written(batching);
    expect(endTurn(batching, source.turn(2))).toBe(false); // pipelining again, 2 of 8
    expect(endTurn(batching, source.turn(2))).toBe(false);
    vi.advanceTimersByTime(3); // another, with 4 waiting
    batching.delayExpired(source, false);
    source.written(batching);
    expect(endTurn(batching, source.turn(2))).toBe(false); // 2 of 8
    expect(endTurn(batching, source.turn(2))).toBe(false);
    expect(endTurn(batching, source.turn(2))).toBe(false);
    expect(endTurn(batching, source.turn(2))).toBe(true); // 8 reached
  });

  it('does not take the first quiet moment of a connection for a stall (the usual time between messages is not known yet)', () => {
    const batching = new AcknowledgementBatching();
    const source = new Source();
    expect(endTurn(batching, source.turn(2))).toBe(true); // batch 4
    expect(endTurn(batching, source.turn(2))).toBe(false);
    vi.advanceTimersByTime(1);
    batching.delayExpired(source, false);
    source.written(batching);
    expect(endTurn(batching, source.turn(1))).toBe(false); // still taken as pipelining: held
  });

  it('does not take a slow but steady pipelining sender for a stalled one', () => {
    const batching = new AcknowledgementBatching();
    const source = new Source();
    endTurn(batching, source.turn(3)); // pipelining, batch 2 reached, now 4
    let writes = 0;
    // One message every 0.3 ms (turns of one each); the delay passes three times per ten messages.
    let heldSince: number | undefined;
    for (let i = 0; i < 100; i++) {
      vi.advanceTimersByTime(0.3);
      const t = performance.now();
      if (heldSince !== undefined && t - heldSince >= 1) {
        batching.delayExpired(source, false);
        source.written(batching);
        writes++;
        heldSince = undefined;
      }
      if (endTurn(batching, source.turn(1))) {
        writes++;
        heldSince = undefined;
      } else heldSince ??= t;
    }
    expect(writes).toBeLessThan(40); // not one per message
  });

  it('lets reading pause only while holding for a sender whose batch grew to 32: a streaming sender, never one that waits for its answers', () => {
    const batching = new AcknowledgementBatching();
    const source = new Source();
    expect(batching.pauseReading).toBe(false);
    // Batches of 2, 4, 8 and 16 reached in turn (messages keep coming): no pause meanwhile.
    const written: number[] = [];
    for (let i = 0; i < 15; i++) {
      if (endTurn(batching, source.turn(2))) written.push(i);
      expect(batching.pauseReading).toBe(false);
    }
    expect(written).toEqual([0, 2, 6, 14]);
    // Now held toward a batch of 32: reading may pause.
    expect(endTurn(batching, source.turn(2))).toBe(false);
    expect(batching.pauseReading).toBe(true);
    source.written(batching);
    expect(batching.pauseReading).toBe(false); // written: not holding
  });

  it("learns nothing from a quiet delay while reading was paused (the quiet was the receiver's own)", () => {
    const batching = new AcknowledgementBatching();
    const source = new Source();
    warmUp(batching, source);
    expect(endTurn(batching, source.turn(2))).toBe(true); // batch 4
    expect(endTurn(batching, source.turn(2))).toBe(false);
    vi.advanceTimersByTime(1);
    batching.delayExpired(source, true);
    source.written(batching);
    expect(endTurn(batching, source.turn(1))).toBe(false); // still pipelining: a single message is held
  });

  describe('how long a paused hold lasts', () => {
    /** A batching grown to 32 (messages kept coming), now holding with reading paused. */
    function streaming(): { batching: AcknowledgementBatching; source: Source } {
      const batching = new AcknowledgementBatching();
      const source = new Source();
      for (let i = 0; i < 15; i++) endTurn(batching, source.turn(2));
      expect(endTurn(batching, source.turn(2))).toBe(false);
      expect(batching.pauseReading).toBe(true);
      return { batching, source };
    }

    /**
     * A paused hold ends (its acknowledgements are written, reading resumes), `backlog`
     * deliveries that came during it are read in the next turn, and `more` in a later one,
     * before the next paused hold ends.
     */
    function cycle(batching: AcknowledgementBatching, source: Source, backlog: number, more: number): void {
      source.deferrableAcknowledgements = 0;
      batching.written(source, true);
      expect(batching.writeNow(source.turn(backlog))).toBe(false);
      expect(batching.writeNow(source.turn(more))).toBe(false);
    }

    it('is 3 ms, three times the hold of a receiver that reads on, for a streaming sender (its cycles vary)', () => {
      const { batching, source } = streaming();
      expect(batching.holdDelay(false)).toBe(1);
      expect(batching.holdDelay(true)).toBe(3);
      for (const [backlog, more] of [
        [9, 12],
        [10, 11],
        [8, 13],
        [11, 10],
        [9, 14],
        [12, 9],
      ])
        cycle(batching, source, backlog!, more!);
      expect(batching.holdDelay(true)).toBe(3);
    });

    it('is 1 ms for a second after a sender is seen to send exactly its window of K each cycle (it waits for our answers), then 3 ms again', () => {
      const { batching, source } = streaming();
      // A sender keeping K = 24 unsettled: each cycle, what it sends after our answers (the rest
      // of this cycle and the next one's backlog) fills its window again: backlog + more + next backlog = 24.
      const backlogs = [6, 9, 4, 7, 5];
      for (let i = 0; i < 3; i++) {
        cycle(batching, source, backlogs[i]!, 24 - backlogs[i]! - backlogs[i + 1]!);
        expect(batching.holdDelay(true)).toBe(3);
      }
      cycle(batching, source, backlogs[3]!, 24 - backlogs[3]! - backlogs[4]!); // the third cycle of 24 in a row
      expect(batching.holdDelay(true)).toBe(1);
      expect(batching.holdDelay(false)).toBe(1);
      vi.advanceTimersByTime(999);
      expect(batching.holdDelay(true)).toBe(1);
      vi.advanceTimersByTime(1);
      expect(batching.holdDelay(true)).toBe(3);
    });

    it('stops pausing, and answers when half the window waits, for a sender seen to run dry even with 1 ms holds', () => {
      const { batching, source } = streaming();
      for (let i = 0; i < 4; i++) cycle(batching, source, 6, 12); // three cycles of 24 in a row
      expect(batching.holdDelay(true)).toBe(1); // seen once: short holds
      // Three more cycles of 24 under the short holds: it runs dry even then.
      cycle(batching, source, 6, 12);
      cycle(batching, source, 6, 12);
      source.deferrableAcknowledgements = 0;
      batching.written(source, true);
      expect(batching.writeNow(source.turn(6))).toBe(false); // the third: held, but...
      expect(batching.pauseReading).toBe(false); // ...reading goes on
      expect(batching.writeNow(source.turn(6))).toBe(true); // 12 wait: half its window
      source.written(batching);
      // A quarter of a second later the batch may grow back (12, 24, 48), and reading pause again.
      vi.advanceTimersByTime(250);
      for (let i = 0; i < 24; i++) endTurn(batching, source.turn(2));
      expect(batching.writeNow(source.turn(2))).toBe(false);
      expect(batching.pauseReading).toBe(true);
    });

    it("shortens its holds when a link's credit runs out during one, and stops pausing when it runs out during two short ones in a row", () => {
      const { batching, source } = streaming();
      /** A paused hold ends; in the read that follows, a link's credit runs out (or not). */
      let backlog = 3;
      const holdEnds = (runOut: boolean) => {
        source.deferrableAcknowledgements = 0;
        batching.written(source, true);
        if (runOut) source.creditRunOuts++;
        // (Counts that vary, as a streaming sender's do: not a window.)
        expect(batching.writeNow(source.turn(backlog++))).toBe(false);
      };
      expect(batching.holdDelay(true)).toBe(3);
      holdEnds(true);
      expect(batching.holdDelay(true)).toBe(1); // out of credit in a 3 ms hold: 1 ms holds
      holdEnds(true);
      expect(batching.pauseReading).toBe(true); // once in a short hold: reading still pauses
      expect(batching.holdDelay(true)).toBe(1);
      holdEnds(false); // a short hold without: the count starts over
      holdEnds(true);
      expect(batching.pauseReading).toBe(true);
      batching.holdDelay(true);
      holdEnds(true); // twice in a row
      expect(batching.pauseReading).toBe(false);
      vi.advanceTimersByTime(250);
      expect(batching.pauseReading).toBe(true); // a quarter of a second later, it may pause again
    });

    it('counts only cycles in a row: a write that ends no paused hold (a flow, a full batch) starts the count over', () => {
      const { batching, source } = streaming();
      // Three holds' ends: two cycles of 24 in a row (the first end only starts one).
      for (let i = 0; i < 3; i++) cycle(batching, source, 6, 12);
      source.written(batching); // a write of a flow, say, between two holds
      // The first hold's end after it starts a cycle; three more make three cycles in a row.
      for (let i = 0; i < 3; i++) {
        cycle(batching, source, 6, 12);
        expect(batching.holdDelay(true)).toBe(3);
      }
      cycle(batching, source, 6, 12);
      expect(batching.holdDelay(true)).toBe(1);
    });
  });
});
