/**
 * Quark: an AMQP 1.0 SDK for Node.js.
 *
 * @packageDocumentation
 */
export {
  AbortError,
  AmqpError,
  AuthenticationError,
  ConnectionClosedError,
  ConnectionLostError,
  DecodeError,
  DeliveryAbortedError,
  DeliveryError,
  DeliveryModifiedError,
  DeliveryRejectedError,
  DeliveryReleasedError,
  EncodeError,
  EndpointClosedError,
  IllegalStateError,
  InDoubtError,
  InsecurePlainError,
  InvalidArgumentError,
  LinkClosedError,
  ListenError,
  MessageSizeExceededError,
  MissingDependencyError,
  SessionClosedError,
  TimeoutError,
  TlsError,
  TransactionError,
  WebSocketError,
  type AmqpErrorFields,
  type TlsFailureReason,
  type WebSocketFailureReason,
  type EndpointKind,
  type UnacceptedOutcome,
} from './errors.js';
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
  jsonSafe,
  typeOf,
  ubyte,
  uint,
  ulong,
  ushort,
  ulongAnnotations,
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
  type DecodeOptions,
  type ValuesMode,
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
/** The spec's composite types field by field (generated from the specification). */
export type {
  CompositeFieldsByName,
  AcceptedFields,
  AttachFields,
  BeginFields,
  CloseFields,
  CoordinatorFields,
  DeclareFields,
  DeclaredFields,
  DeleteOnCloseFields,
  DeleteOnNoLinksFields,
  DeleteOnNoLinksOrMessagesFields,
  DeleteOnNoMessagesFields,
  DetachFields,
  DischargeFields,
  DispositionFields,
  EndFields,
  ErrorFields,
  FlowFields,
  HeaderFields,
  ModifiedFields,
  OpenFields,
  PropertiesFields,
  ReceivedFields,
  RejectedFields,
  ReleasedFields,
  SaslChallengeFields,
  SaslInitFields,
  SaslMechanismsFields,
  SaslOutcomeFields,
  SaslResponseFields,
  SourceFields,
  TargetFields,
  TransactionalStateFields,
  TransferFields,
} from './codec/spec-tables.js';
export { connect, Connection, type Authentication, type ConnectOptions, type TlsInfo } from './client/connection.js';
export type { WebSocketConnectOptions } from './client/connect-targets.js';
export type { ReconnectOptions } from './client/reconnect-policy.js';
export { Session, type SessionOptions } from './client/session.js';
export { Link } from './client/link.js';
export { Sender, type OutgoingMessage, type SendOptions, type SendResult } from './client/sender.js';
export { Receiver, type DeliveriesOptions } from './client/receiver.js';
export { Requester, type RequesterOptions } from './client/requester.js';
export { Transaction, type TransactionState } from './client/transaction.js';
export { Responder, type RequestHandler, type ResponderOptions } from './client/responder.js';
export {
  ReceiverSubscription,
  type HandlerErrorAction,
  type SubscribeOptions,
} from './client/receiver-subscription.js';
export { Delivery, type ModifyOptions } from './client/delivery.js';
export type { CallOptions } from './client/cancellation.js';
export type { LinkOptions, ReceiverOptions, SenderOptions, TerminusOptions } from './client/link-options.js';
export type { QuarkEvent, QuarkEventType } from './client/events.js';
export {
  listen,
  Listener,
  type ListenOptions,
  type ListenSaslOptions,
  type SaslCredentials,
} from './server/listener.js';
export type { WebSocketListenOptions } from './server/websocket-endpoint.js';
export {
  SaslUsers,
  ScramClient,
  ScramServer,
  scramCredentials,
  type ScramCredentials,
  type ScramHash,
  type StoredUser,
} from './engine/scram.js';
export { IncomingLink, type AcceptReceiverOptions } from './server/incoming-link.js';
export { forwardTo, sendTo, type Forwarded, type SendToOptions } from './rx/send-to.js';
export { startBroker, Broker, type BrokerOptions, type QueueStats } from './server/broker/broker.js';
export type { AddressPermissions } from './server/broker/permissions.js';
export { Container, type ContainerOptions, type HandlerScope } from './container/container.js';
export {
  ContainerConnection,
  ContainerLink,
  ContainerListener,
  ContainerReceiver,
  ContainerSender,
  ContainerTransaction,
  Task,
  Tracker,
} from './container/endpoints.js';
export {
  HandlerError,
  Reject,
  Release,
  type ConnectionErrorEvent,
  type DisconnectedEvent,
  type ReconnectedEvent,
  type ConnectionEvent,
  type ContainerEvent,
  type HandlerResult,
  type LinkEvent,
  type MessageEvent,
  type MessagingHandler,
  type ReceiverEvent,
  type SenderEvent,
  type SessionEvent,
  type TimerEvent,
  type TransactionEvent,
  type TrackerEvent,
} from './container/handler.js';
