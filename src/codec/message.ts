/**
 * The AMQP message (spec, messaging section 3.2): header, delivery annotations, message
 * annotations, properties, application properties, body and footer.
 *
 * The header and properties fields sit directly on the message, as in Qpid Proton and rhea
 * (`message.durable`, `message.subject`, `message.messageId`), named as the spec names them.
 * Times are `Date`s when decoded; when sending, a `Date` or a number of milliseconds since the
 * epoch. `ttl` is in milliseconds.
 */
import { Buffer } from 'node:buffer';
import { DecodeError, EncodeError, InvalidArgumentError } from '../errors.js';
import { ByteWriter } from './byte-writer.js';
import type { MessageId } from './composite-types.js';
import {
  ByteReader,
  readBinary,
  readCompositeBody,
  readKeyedMap,
  readSectionDescriptor,
  readValue,
} from './decoder.js';
import { writeComposite, writeObjectMap, writeValue } from './encoder.js';
import { compositeSpecs, describedSectionSpecs, type CompositeSpec } from './spec-tables.js';
import { isPlainObject, jsonSafe, ulongAnnotations, withJsonView, type AmqpObject, type AmqpValue } from './values.js';

/**
 * Annotations (delivery, message, footer): keys are symbols, given and decoded as strings. The
 * spec's reserved ulong keys are kept apart, under {@link ulongAnnotations}.
 */
export type Annotations = Record<string, AmqpValue> & {
  /** The annotations whose keys are ulongs (the spec reserves them), by key. */
  [ulongAnnotations]?: Map<bigint, AmqpValue>;
};

/** Application properties: keys are strings; values should be simple types (not lists or maps). */
export type ApplicationProperties = Record<string, AmqpValue>;

/**
 * How the body is carried: one `amqp-value` section (`'value'`), one or more `data` sections
 * (`'data'`), or one or more `amqp-sequence` sections (`'sequence'`).
 */
export type BodyType = 'value' | 'data' | 'sequence';

/** The fields of the header section (spec 3.2.1). */
export interface MessageHeader {
  /** Whether the message must survive an intermediary's restart. Default false. */
  durable?: boolean;
  /** Relative priority, 0 to 255. Default 4. */
  priority?: number;
  /** Time to live, in milliseconds. */
  ttl?: number;
  /** Whether this message has not been acquired by any other link. Default false. */
  firstAcquirer?: boolean;
  /** How many earlier deliveries of this message failed. Default 0. */
  deliveryCount?: number;
}

/** The fields of the properties section (spec 3.2.4). */
export interface MessageProperties {
  /** A `string`, `bigint` (ulong), `Uint8Array` or `uuid()`; a non-negative integer number is sent as a ulong. */
  messageId?: MessageId;
  /** The identity of the user who produced the message (brokers may check it against the connection's login). */
  userId?: Uint8Array;
  /** The address of the node the message is destined for. */
  to?: string;
  /** A summary of the message, for the application (and for selectors). */
  subject?: string;
  /** The address to send replies to (a request's: see `createRequester`). */
  replyTo?: string;
  /** What this message relates to; a reply carries its request's message-id here. Same forms as `messageId`. */
  correlationId?: MessageId;
  /** A MIME type, sent as a symbol. */
  contentType?: string;
  /** A content coding such as `gzip`, sent as a symbol. */
  contentEncoding?: string;
  /** A `Date`, or milliseconds since the epoch when sending; a `bigint` of milliseconds beyond the range of `Date`. */
  absoluteExpiryTime?: Date | number | bigint;
  /** A `Date`, or milliseconds since the epoch when sending; a `bigint` of milliseconds beyond the range of `Date`. */
  creationTime?: Date | number | bigint;
  /** The group the message belongs to (brokers that support groups deliver a group to one consumer). */
  groupId?: string;
  /** The message's position in its group (a uint). */
  groupSequence?: number;
  /** The group replies to this message go to. */
  replyToGroupId?: string;
}

/**
 * An AMQP message. Every field is optional. `Body` is the body's type: any AMQP value when
 * sending; on a receiver made with a body type (`createReceiver<Order>()`), that type. A key that
 * is none of these fields (Proton's `properties`, rhea's `message_id`) is refused with an
 * `EncodeError` naming the field it was probably meant to be, rather than dropped.
 */
export interface Message<Body = AmqpValue> extends MessageHeader, MessageProperties {
  /** Annotations for the next hop only (the delivery-annotations section). */
  deliveryAnnotations?: Annotations;
  /** Annotations for intermediaries and the receiver (the message-annotations section). */
  messageAnnotations?: Annotations;
  /** Application-defined properties, for routing and selection. */
  applicationProperties?: ApplicationProperties;
  /**
   * The body. With `bodyType` `'value'` (the default, except for a `Uint8Array` body), any value.
   * With `'data'`, a `Uint8Array` (one data section) or an array of them (several sections).
   * With `'sequence'`, an array of lists, one per amqp-sequence section.
   * `undefined` sends no body section (a message with no section at all gets an amqp-value of
   * null, as a message cannot be empty); `null` sends an amqp-value of null.
   */
  body?: Body;
  /**
   * How the body is carried. When unset, a `Uint8Array` body goes in one data section (as
   * Qpid Proton does) and anything else in an amqp-value section. Decoded messages always set it.
   */
  bodyType?: BodyType;
  /** Annotations computed over the whole message (the footer section). */
  footer?: Annotations;
}

const headerSpec: CompositeSpec = compositeSpecs.header;
const propertiesSpec: CompositeSpec = compositeSpecs.properties;
const SECTION = {
  header: compositeSpecs.header.code,
  deliveryAnnotations: describedSectionSpecs.deliveryAnnotations.code,
  messageAnnotations: describedSectionSpecs.messageAnnotations.code,
  properties: compositeSpecs.properties.code,
  applicationProperties: describedSectionSpecs.applicationProperties.code,
  data: describedSectionSpecs.data.code,
  amqpSequence: describedSectionSpecs.amqpSequence.code,
  amqpValue: describedSectionSpecs.amqpValue.code,
  footer: describedSectionSpecs.footer.code,
} as const;

function hasAnyField(message: Message, spec: CompositeSpec): boolean {
  const values = message as Record<string, unknown>;
  for (const field of spec.fields) if (values[field.name] != null) return true;
  return false;
}

const HEADER = 1;
const PROPERTIES = 2;
/** Every key a message may have, with the section it is a field of (HEADER, PROPERTIES, or 0: a section of its own). */
const SECTION_OF_KEY = new Map<string, number>([
  ...headerSpec.fields.map((f): [string, number] => [f.name, HEADER]),
  ...propertiesSpec.fields.map((f): [string, number] => [f.name, PROPERTIES]),
  ...['deliveryAnnotations', 'messageAnnotations', 'applicationProperties', 'body', 'bodyType', 'footer'].map(
    (key): [string, number] => [key, 0],
  ),
]);

/** Every key of a message, by its name lowercased without underscores (`message_id`: `messageId`). */
const MESSAGE_KEY_OF_SPELLING = new Map([...SECTION_OF_KEY.keys()].map((key) => [key.toLowerCase(), key]));

/**
 * A key no message has, with a value: refused rather than dropped, since what it holds would
 * never reach the peer (`properties` is Proton's name for application properties, `message_id`
 * rhea's for messageId).
 */
function unknownMessageKey(key: string): EncodeError {
  const known = MESSAGE_KEY_OF_SPELLING.get(key.toLowerCase().replaceAll('_', ''));
  const hint =
    key === 'properties'
      ? ": application properties go in `applicationProperties`, and the properties section's fields (messageId, subject, to, ...) are keys of the message itself"
      : known !== undefined
        ? `: did you mean \`${known}\`?`
        : `; a message's keys are ${[...SECTION_OF_KEY.keys()].join(', ')}`;
  return new EncodeError(`message.${key} is not a field of an AMQP message, and would not be sent${hint}`);
}

/**
 * Which of the header and properties sections a message needs, refusing a key no message has. A
 * plain message has few keys, so walking them beats looking up all 18 header and properties
 * fields (most of them absent).
 */
function presentSections(message: Message): number {
  const values = message as Record<string, unknown>;
  if (!isPlainObject(message)) {
    for (const key of Object.keys(values))
      if (!SECTION_OF_KEY.has(key) && values[key] !== undefined) throw unknownMessageKey(key);
    return (hasAnyField(message, headerSpec) ? HEADER : 0) | (hasAnyField(message, propertiesSpec) ? PROPERTIES : 0);
  }
  let sections = 0;
  for (const key in values) {
    const section = SECTION_OF_KEY.get(key);
    if (section === undefined) {
      if (values[key] !== undefined) throw unknownMessageKey(key);
    } else if (section !== 0 && values[key] != null) sections |= section;
  }
  return sections;
}

function writeSectionDescriptor(w: ByteWriter, code: number): void {
  w.ensure(3);
  w.buf[w.pos] = 0x00;
  w.buf[w.pos + 1] = 0x53;
  w.buf[w.pos + 2] = code;
  w.pos += 3;
}

function writeKeyedSection(w: ByteWriter, code: number, value: unknown, name: string, symbolKeys: boolean): void {
  if (value === undefined || value === null) return;
  if (typeof value !== 'object' || !isPlainObject(value)) {
    throw new EncodeError(`message.${name} must be a plain object keyed by ${symbolKeys ? 'symbol' : 'property'} name`);
  }
  writeSectionDescriptor(w, code);
  writeObjectMap(w, value as AmqpObject, 1, false, symbolKeys);
}

/** Writes the sections of a message into `w` (the engine's path: no intermediate buffer). */
export function writeMessage(w: ByteWriter, message: Message): void {
  const start = w.pos;
  writeMessageHead(w, message);
  writeBody(w, message);
  if (w.pos === start) {
    // A message with no section at all is not a message (spec 3.2): send an amqp-value of null.
    writeSectionDescriptor(w, SECTION.amqpValue);
    w.u8(0x40);
  }
  writeKeyedSection(w, SECTION.footer, message.footer, 'footer', true);
}

/** The sections before the body: header, annotations, properties, application properties. */
function writeMessageHead(w: ByteWriter, message: Message<unknown>): void {
  if (message === null || typeof message !== 'object')
    throw new EncodeError(`a message must be an object, got ${message === null ? 'null' : typeof message}`);
  const sections = presentSections(message as Message);
  if (sections & HEADER) {
    if (message.ttl !== undefined && !(Number.isInteger(message.ttl) && message.ttl >= 0)) {
      throw new EncodeError(`message.ttl must be a whole number of milliseconds, got ${String(message.ttl)}`);
    }
    writeComposite(w, headerSpec, message);
  }
  writeKeyedSection(w, SECTION.deliveryAnnotations, message.deliveryAnnotations, 'deliveryAnnotations', true);
  writeKeyedSection(w, SECTION.messageAnnotations, message.messageAnnotations, 'messageAnnotations', true);
  if (sections & PROPERTIES) writeComposite(w, propertiesSpec, message);
  writeKeyedSection(w, SECTION.applicationProperties, message.applicationProperties, 'applicationProperties', false);
}

/**
 * The bytes of a message's sections before its body (for a body streamed as data sections,
 * each written with {@link dataSectionHeader} before its bytes).
 */
export function encodeMessageHead(message: Message<unknown>): Uint8Array {
  const w = new ByteWriter(256);
  writeMessageHead(w, message);
  return w.toBuffer();
}

/** The 8 bytes that begin a data section of `length` bytes (described binary, 32-bit length). */
export function dataSectionHeader(length: number): Uint8Array {
  const b = Buffer.allocUnsafe(8);
  b[0] = 0x00;
  b[1] = 0x53;
  b[2] = SECTION.data;
  b[3] = 0xb0;
  b.writeUInt32BE(length, 4);
  return b;
}

function writeBody(w: ByteWriter, message: Message): void {
  const { body } = message;
  const bodyType = message.bodyType ?? (body instanceof Uint8Array ? 'data' : 'value');
  switch (bodyType) {
    case 'value':
      if (body === undefined) return;
      writeSectionDescriptor(w, SECTION.amqpValue);
      writeValue(w, body, 0); // A section descriptor is no level of nesting to the decoder.
      return;
    case 'data': {
      if (body instanceof Uint8Array) {
        // The usual case, one section: no array and no check of each element.
        writeSectionDescriptor(w, SECTION.data);
        writeValue(w, body, 1);
        return;
      }
      const sections = body;
      if (!Array.isArray(sections) || sections.length === 0 || !sections.every((s) => s instanceof Uint8Array)) {
        throw new EncodeError("a message with bodyType 'data' needs a Uint8Array body or a non-empty array of them");
      }
      for (const section of sections) {
        writeSectionDescriptor(w, SECTION.data);
        writeValue(w, section, 1);
      }
      return;
    }
    case 'sequence': {
      if (!Array.isArray(body) || body.length === 0 || !body.every((s) => Array.isArray(s))) {
        throw new EncodeError(
          "a message with bodyType 'sequence' needs a body that is a non-empty array of lists, one per section",
        );
      }
      for (const section of body) {
        writeSectionDescriptor(w, SECTION.amqpSequence);
        writeValue(w, section, 0);
      }
      return;
    }
  }
  throw new EncodeError(`message.bodyType must be 'value', 'data' or 'sequence', got ${JSON.stringify(bodyType)}`);
}

/**
 * A body of one `Uint8Array` at least this large is sent by reference, not copied: a copy costs
 * more than the frame it saves, and senders holding many such sends (waiting for credit) would
 * hold a copy each.
 */
export const BODY_BY_REFERENCE = 65536;

/**
 * A message whose body is one `Uint8Array` of BODY_BY_REFERENCE bytes or more, encoded around
 * its body: the bytes before it (the sections before the body and the data section's header),
 * the body itself (the caller's bytes, not copied), and the footer's bytes if it has one.
 * Undefined for any other message (encode it whole). Throws {@link EncodeError} as
 * `encodeMessage` does.
 */
export function encodeMessageAroundBody(message: Message): Uint8Array[] | undefined {
  const body = message?.body;
  if (
    !(body instanceof Uint8Array) ||
    body.length < BODY_BY_REFERENCE ||
    (message.bodyType !== undefined && message.bodyType !== 'data')
  )
    return undefined;
  const w = new ByteWriter(256);
  writeMessageHead(w, message);
  writeSectionDescriptor(w, SECTION.data);
  w.u8(0xb0); // vbin32: a body this large needs the 32-bit length
  w.u32(body.length);
  const parts: Uint8Array[] = [w.toBuffer(), body];
  if (message.footer !== undefined) {
    const footer = new ByteWriter(64);
    writeKeyedSection(footer, SECTION.footer, message.footer, 'footer', true);
    if (footer.pos > 0) parts.push(footer.toBuffer());
  }
  return parts;
}

/** Above this size the shared writer's buffer is not kept for the next message. */
const LARGE_MESSAGE = 1 << 20;
// One writer kept for every encode of the process (the message is copied out of it): measured
// with bench-style A/B builds on Node 20, a 100-byte message encodes in 197 ns with it and 503 ns
// with a fresh 1 KiB writer each time, a typical message with properties and a map body in 1,077
// and 1,354 ns.
let sharedWriter: ByteWriter | undefined;
let sharedWriterBusy = false;

/**
 * Encodes a message into the bytes a transfer carries (the bare message plus its annotations).
 * Throws {@link EncodeError} at once for a value with no AMQP form or a field out of range.
 */
export function encodeMessage(message: Message): Uint8Array {
  if (typeof message !== 'object' || message === null)
    throw new EncodeError(`encodeMessage needs a message object such as { body: 'hello' }, got ${String(message)}`);
  return encodeMessageWith(message, Buffer.allocUnsafe);
}

/**
 * Encodes a message like `encodeMessage`; a large one goes into a buffer from `allocate` (given
 * the size needed), e.g. a pool's. Returns a view of that buffer when the message filled most of it.
 */
export function encodeMessageWith(message: Message, allocate: (size: number) => Buffer): Uint8Array {
  const hint = largeBodyHint(message);
  if (hint >= LARGE_BODY) {
    // A large body: a writer of about the right size, written once and handed over as it is,
    // instead of a shared writer doubling its way up (copying the body at every step) and a
    // final copy out (which also left a buffer of up to twice the message alive).
    const w = new ByteWriter(allocate(hint + LARGE_MESSAGE_SLACK));
    writeMessage(w, message);
    return w.pos * 8 >= w.buf.length * 7 ? w.buf.subarray(0, w.pos) : w.toBuffer();
  }
  // One writer is reused across calls; a re-entrant call (from a getter) gets its own.
  const w = sharedWriterBusy ? new ByteWriter(1024) : (sharedWriter ??= new ByteWriter(4096));
  const owned = w === sharedWriter;
  if (owned) sharedWriterBusy = true;
  try {
    w.reset();
    writeMessage(w, message);
    return w.toBuffer();
  } finally {
    if (owned) {
      sharedWriterBusy = false;
      // Do not keep a huge buffer alive because of one large message.
      if (w.buf.length > LARGE_MESSAGE) sharedWriter = undefined;
    }
  }
}

/** From this body size on, a message gets a writer of its own (no copy out of the shared one). */
const LARGE_BODY = 65536;
/** Room for the sections and section headers around a large body. */
const LARGE_MESSAGE_SLACK = 4096;

/** The bytes a message's body will take at least, when that is cheap to know (binary or string bodies); else 0. */
function largeBodyHint(message: Message): number {
  const body = message.body;
  if (body instanceof Uint8Array) return body.length;
  if (typeof body === 'string') return body.length >= LARGE_BODY / 3 ? Buffer.byteLength(body) : body.length;
  if (Array.isArray(body) && message.bodyType === 'data') {
    let n = 0;
    for (const b of body) if (b instanceof Uint8Array) n += b.length + 8;
    return n;
  }
  return 0;
}

/**
 * How received values are given: `'native'`, as a JavaScript program holds data (numbers, plain
 * objects, strings, `Date`s, `Buffer`s), or `'exact'`, with every AMQP type kept (a `double` as
 * `Typed`, a map as a `Map`, a `long` as a `bigint`) so that a value re-encodes to the same bytes.
 * See the README's table.
 */
export type ValuesMode = 'native' | 'exact';

/** Options of {@link decodeMessage}. */
export interface DecodeOptions {
  /** `'native'` (the default) or `'exact'`. */
  values?: ValuesMode | undefined;
}

/** The decode options of each mode, made once (a receiver decodes every message with one of them). */
export const DECODE_NATIVE: DecodeOptions = Object.freeze({ values: 'native' });
export const DECODE_EXACT: DecodeOptions = Object.freeze({ values: 'exact' });

/** Checks a `values` option, naming it. */
export function checkValuesMode(values: unknown, what = 'values'): ValuesMode | undefined {
  if (values === undefined || values === 'native' || values === 'exact') return values;
  throw new InvalidArgumentError(`${what} must be 'native' or 'exact', got ${JSON.stringify(values)}`);
}

function messageToJson(this: Message): unknown {
  return { ...this, body: jsonSafe(this.body) };
}

/**
 * Decodes the bytes of a message (as carried by transfers). Throws {@link DecodeError}
 * (`amqp:decode-error`) saying what was wrong and where. Binary values are views into `bytes`.
 * Values are native unless `{ values: 'exact' }` is given.
 */
export function decodeMessage(bytes: Uint8Array, options?: DecodeOptions): Message {
  if (!(bytes instanceof Uint8Array)) throw new DecodeError('decodeMessage needs a Uint8Array', 0);
  const r = new ByteReader(bytes);
  r.native = checkValuesMode(options?.values, 'decodeMessage: values') !== 'exact';
  return readMessage(r);
}

/** The reader `decodeMessageIn` uses, while none of its calls is under way. */
let sharedReader: ByteReader | undefined;

/**
 * Decodes the message that is bytes `start` to `end` of `bytes` (a received frame: see
 * `EngineDelivery.locatePayload`), as `decodeMessage` does the same bytes cut out, without a view
 * of them or a reader of its own per message: a receiver's per-message path. Binary values are
 * views into `bytes`.
 */
export function decodeMessageIn(bytes: Uint8Array, start: number, end: number, options?: DecodeOptions): Message {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const native = checkValuesMode(options?.values, 'decodeMessage: values') !== 'exact';
  const r = sharedReader?.reset(buf, start, end) ?? new ByteReader(buf, start, end);
  sharedReader = undefined; // taken: a decode inside this one (none today) would make its own
  r.native = native;
  try {
    return readMessage(r);
  } catch (err) {
    // Decoded again as the message's own bytes, so that the error's offset counts from its start.
    if (err instanceof DecodeError) return decodeMessage(buf.subarray(start, end), options);
    throw err;
  } finally {
    sharedReader = r;
  }
}

/** A decoded section, with a JSON view when it needs one (see {@link readMessage}); clears the reader's flag. */
function section<T>(r: ByteReader, value: T, unsafe = r.jsonUnsafe): T {
  r.jsonUnsafe = false;
  return !r.native || unsafe ? withJsonView(value) : value;
}

/** A data section's value: a vbin8 (the common case) read directly, anything else by the generic reader (the caller refuses what is not binary). */
function readDataSectionBinary(r: ByteReader): AmqpValue {
  if (r.pos >= r.end || r.buf[r.pos] !== 0xa0) return readValue(r);
  r.pos++;
  return readBinary(r, r.u8());
}

/**
 * Reads message sections until the reader's end (native or exact as the reader says). Sections
 * that hold what plain JSON cannot (bigints, `Map`s) get a JSON view, so `JSON.stringify` of
 * any section neither throws nor gives `{}`.
 */
export function readMessage(r: ByteReader): Message {
  const message: Message = {};
  let sequenceUnsafe = false;
  // The first data section alone (the usual body) needs no array.
  let firstData: Uint8Array | undefined;
  let dataSections: Uint8Array[] | undefined;
  let sequenceSections: AmqpValue[][] | undefined;
  while (r.pos < r.end) {
    const at = r.pos;
    const code = readSectionDescriptor(r);
    switch (code) {
      case SECTION.header:
      case SECTION.properties:
        readCompositeBody(r, code, message as Record<string, unknown>);
        break;
      case SECTION.deliveryAnnotations:
        message.deliveryAnnotations = section(r, readKeyedMap(r, true));
        break;
      case SECTION.messageAnnotations:
        message.messageAnnotations = section(r, readKeyedMap(r, true));
        break;
      case SECTION.applicationProperties:
        message.applicationProperties = section(r, readKeyedMap(r));
        break;
      case SECTION.footer:
        message.footer = section(r, readKeyedMap(r, true));
        break;
      case SECTION.amqpValue:
        if (message.bodyType !== undefined)
          throw new DecodeError(`an amqp-value section cannot follow a ${message.bodyType} body section`, at);
        message.bodyType = 'value';
        message.body = section(r, readValue(r));
        break;
      case SECTION.data: {
        if (message.bodyType !== undefined && message.bodyType !== 'data')
          throw new DecodeError(`a data section cannot follow a ${message.bodyType} body section`, at);
        const value = readDataSectionBinary(r);
        if (!(value instanceof Uint8Array)) throw new DecodeError('a data section must hold binary', at);
        message.bodyType = 'data';
        if (firstData === undefined) firstData = value;
        else (dataSections ??= [firstData]).push(value);
        break;
      }
      case SECTION.amqpSequence: {
        if (message.bodyType !== undefined && message.bodyType !== 'sequence')
          throw new DecodeError(`an amqp-sequence section cannot follow a ${message.bodyType} body section`, at);
        const value = readValue(r);
        if (!Array.isArray(value)) throw new DecodeError('an amqp-sequence section must hold a list', at);
        message.bodyType = 'sequence';
        (sequenceSections ??= []).push(value);
        // Sections between sequence sections (none, normally) must not clear what these need.
        sequenceUnsafe ||= r.jsonUnsafe;
        r.jsonUnsafe = false;
        break;
      }
      default:
        throw new DecodeError(`descriptor 0x${code.toString(16)} is not a message section`, at);
    }
  }
  if (firstData !== undefined) message.body = dataSections ?? firstData;
  if (sequenceSections) message.body = section(r, sequenceSections, sequenceUnsafe);
  // A bare bigint body cannot carry a toJSON of its own: the message does, for JSON.stringify(message).
  if (typeof message.body === 'bigint')
    Object.defineProperty(message, 'toJSON', {
      value: messageToJson,
      enumerable: false,
      writable: true,
      configurable: true,
    });
  return message;
}
