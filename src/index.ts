/**
 * Quark: an AMQP 1.0 SDK for Node.js.
 *
 * @packageDocumentation
 */
export { AmqpError, DecodeError, EncodeError, type AmqpErrorFields } from './errors.js';
export {
  AmqpArray,
  Described,
  Typed,
  array,
  byte,
  char,
  decimal128,
  decimal32,
  decimal64,
  described,
  double,
  float,
  int,
  long,
  short,
  symbol,
  timestamp,
  typeOf,
  ubyte,
  uint,
  ulong,
  ushort,
  uuid,
  type AmqpObject,
  type AmqpTypeName,
  type AmqpValue,
  type ArrayElementType,
  type TypedName,
  type TypedValues,
} from './codec/values.js';
export {
  decodeMessage,
  encodeMessage,
  type Annotations,
  type ApplicationProperties,
  type BodyType,
  type Message,
  type MessageHeader,
  type MessageProperties,
} from './codec/message.js';
export { decodeValue, encodeValue } from './codec/value-bytes.js';
export type {
  Composite,
  CompositeName,
  Coordinator,
  DeliveryState,
  ErrorCondition,
  Fields,
  MessageId,
  Outcome,
  Source,
  Target,
} from './codec/composite-types.js';
