/**
 * The transfer performative, decoded without allocating: most frames a receiver reads are
 * transfers, and the generic composite reader makes a new object (whose shape depends on which
 * fields are present) for each. This reader fills one reused object of a fixed shape, for the
 * encodings peers send (lists of nulls, booleans, small unsigned integers and a binary tag).
 * Anything else (a delivery state, a wide integer, extra fields, a malformed list) is left to the
 * generic reader, which decodes every encoding the spec allows and says what is wrong.
 *
 * Why a reader of its own rather than the generic one filling a reused object: tried, that cost
 * the receiver 12-20% more CPU per message against Proton's send.c (2.55-2.77 against
 * 2.17-2.43 us in bench/cross-peer.mjs rx-proton, 2026-12-06): its per-field dispatch and keyed
 * stores are most of a transfer's decoding.
 */
import { uint32At, type ByteReader } from './decoder.js';
import type { TransferFields } from './spec-tables.js';

/** The transfer's descriptor as peers send it: a smallulong 0x14 (amqp:transfer:list). */
const TRANSFER_DESCRIPTOR = [0x00, 0x53, 0x14] as const;
/** How many fields the transfer list has (handle .. batchable). */
const TRANSFER_FIELD_COUNT = 11;

/**
 * A transfer's fields as `readTransferInto` reads them. The delivery tag and the payload are
 * located, not made views of: the tag is bytes `tagStart` to `tagEnd` of the frame (`tagEnd` -1:
 * the transfer has none; `deliveryTag` stays undefined), the payload the rest of the frame,
 * `payloadStart` to `payloadEnd`. Most received deliveries never need their tag as an object, and
 * a message is decoded straight from the frame (see `EngineDelivery.received`, `locatePayload`).
 */
export interface LocatedTransferFields extends TransferFields {
  tagStart: number;
  tagEnd: number;
  payloadStart: number;
  payloadEnd: number;
}

/** A transfer's fields, every one present (undefined when absent), so the object keeps one shape. */
export function newTransferFields(): LocatedTransferFields {
  return {
    tagStart: 0,
    tagEnd: -1,
    payloadStart: 0,
    payloadEnd: 0,
    handle: 0,
    deliveryId: undefined,
    deliveryTag: undefined,
    messageFormat: undefined,
    settled: undefined,
    more: undefined,
    rcvSettleMode: undefined,
    state: undefined,
    resume: undefined,
    aborted: undefined,
    batchable: undefined,
  };
}

/** Whether the bytes at `pos` begin a transfer performative described the usual way. */
export function startsTransfer(buf: Uint8Array, pos: number, end: number): boolean {
  return (
    end - pos > 3 &&
    buf[pos] === TRANSFER_DESCRIPTOR[0] &&
    buf[pos + 1] === TRANSFER_DESCRIPTOR[1] &&
    buf[pos + 2] === TRANSFER_DESCRIPTOR[2]
  );
}

/**
 * Reads the transfer performative at the reader's position into `into` (every field set, absent
 * ones to undefined; tag and payload located, see `LocatedTransferFields`), leaving the reader
 * after it (at the payload; the reader's end is the frame's).
 * Returns false, with the reader where it was and `into` unspecified, when the performative uses
 * an encoding this fast path leaves to the generic reader (see the module's comment).
 */
export function readTransferInto(r: ByteReader, into: LocatedTransferFields): boolean {
  const start = r.pos;
  const buf = r.buf;
  const end = r.end;
  let p = start + TRANSFER_DESCRIPTOR.length;
  let size: number;
  let count: number;
  if (p + 3 <= end && buf[p] === 0xc0) {
    // list8 (Proton, Quark)
    size = buf[p + 1]! - 1;
    count = buf[p + 2]!;
    p += 3;
  } else if (p + 9 <= end && buf[p] === 0xd0) {
    // list32 (rhea, whatever the size)
    size = uint32At(buf, p + 1) - 4;
    count = uint32At(buf, p + 5);
    p += 9;
  } else return false;
  const listEnd = p + size;
  if (size < 0 || listEnd > end || count < 1 || count > TRANSFER_FIELD_COUNT) return false;

  into.tagEnd = -1;
  into.handle = 0;
  into.deliveryId = undefined;
  into.deliveryTag = undefined;
  into.messageFormat = undefined;
  into.settled = undefined;
  into.more = undefined;
  into.rcvSettleMode = undefined;
  into.state = undefined;
  into.resume = undefined;
  into.aborted = undefined;
  into.batchable = undefined;

  for (let i = 0; i < count; i++) {
    if (p >= listEnd) return false;
    const code = buf[p++]!;
    if (code === 0x40) {
      if (i === 0) return false; // handle is mandatory
      continue;
    }
    switch (i) {
      case 0: // handle
      case 1: // delivery-id
      case 3: // message-format
      case 6: {
        // rcv-settle-mode
        let v: number;
        if (code === 0x43) v = 0;
        else if (code === 0x52 || (code === 0x50 && i === 6)) {
          if (p >= listEnd) return false;
          v = buf[p++]!;
        } else if (code === 0x70 && i !== 6) {
          if (p + 4 > listEnd) return false;
          v = uint32At(buf, p);
          p += 4;
        } else return false;
        if (i === 0) into.handle = v;
        else if (i === 1) into.deliveryId = v;
        else if (i === 3) into.messageFormat = v;
        else into.rcvSettleMode = v;
        break;
      }
      case 2: {
        // delivery-tag
        let n: number;
        if (code === 0xa0) {
          if (p >= listEnd) return false;
          n = buf[p++]!;
        } else if (code === 0xb0) {
          if (p + 4 > listEnd) return false;
          n = uint32At(buf, p);
          p += 4;
        } else return false;
        if (p + n > listEnd) return false;
        into.tagStart = p;
        into.tagEnd = p + n;
        p += n;
        break;
      }
      case 7: // state: a described delivery state, for the generic reader
        return false;
      default: {
        // settled, more, resume, aborted, batchable
        let v: boolean;
        if (code === 0x41) v = true;
        else if (code === 0x42) v = false;
        else if (code === 0x56) {
          if (p >= listEnd) return false;
          v = buf[p++] !== 0;
        } else return false;
        if (i === 4) into.settled = v;
        else if (i === 5) into.more = v;
        else if (i === 8) into.resume = v;
        else if (i === 9) into.aborted = v;
        else into.batchable = v;
      }
    }
  }
  if (p !== listEnd) return false; // bytes past the last field: the generic reader says so
  r.pos = p;
  into.payloadStart = p;
  into.payloadEnd = end;
  return true;
}
