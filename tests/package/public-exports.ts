/**
 * The public surface of the package, name by name: what src/index.ts exports and nothing else.
 * A change here is a change of the published API (see also etc/quark-amqp.api.md).
 */

/** Exports that exist at run time (classes, functions, constants). */
export const publicValues: readonly string[] = [
  'AbortError', 'AmqpArray', 'AmqpError', 'array', 'AuthenticationError', 'Broker', 'byte', 'char',
  'connect', 'Connection', 'ConnectionClosedError', 'ConnectionLostError', 'Container',
  'ContainerConnection', 'ContainerLink', 'ContainerListener', 'ContainerReceiver', 'ContainerSender',
  'ContainerTransaction', 'decimal128', 'decimal32', 'decimal64', 'DecodeError', 'decodeMessage',
  'decodeValue', 'Delivery', 'DeliveryAbortedError', 'DeliveryError', 'DeliveryModifiedError',
  'DeliveryRejectedError', 'DeliveryReleasedError', 'described', 'Described', 'double', 'EncodeError',
  'encodeMessage', 'encodeValue', 'EndpointClosedError', 'float', 'forwardTo', 'HandlerError',
  'IllegalStateError', 'IncomingLink', 'InDoubtError', 'InsecurePlainError', 'int',
  'InvalidArgumentError', 'jsonSafe', 'Link', 'LinkClosedError', 'listen', 'Listener', 'ListenError',
  'long', 'MessageSizeExceededError', 'MissingDependencyError', 'Receiver', 'ReceiverSubscription',
  'Reject', 'Release', 'Requester', 'Responder', 'SaslUsers', 'ScramClient', 'scramCredentials',
  'ScramServer', 'Sender', 'sendTo', 'Session', 'SessionClosedError', 'short', 'startBroker', 'symbol',
  'Task', 'TimeoutError', 'timestamp', 'TlsError', 'Tracker', 'Transaction', 'TransactionError',
  'Typed', 'typeOf', 'ubyte', 'uint', 'ulong', 'ulongAnnotations', 'ushort', 'uuid', 'WebSocketError',
];

/** Exports that are types only. */
export const publicTypes: readonly string[] = [
  'AcceptedFields', 'AcceptReceiverOptions', 'AddressPermissions', 'AmqpErrorFields', 'AmqpObject',
  'AmqpTypeName', 'AmqpValue', 'Annotations', 'ApplicationProperties', 'ArrayElementType',
  'AttachFields', 'Authentication', 'BeginFields', 'BodyType', 'BrokerOptions', 'CallOptions',
  'CloseFields', 'Composite', 'CompositeFieldsByName', 'CompositeName', 'ConnectionErrorEvent',
  'ConnectionEvent', 'ConnectOptions', 'ContainerEvent', 'ContainerOptions', 'Coordinator',
  'CoordinatorFields', 'DeclaredFields', 'DeclareFields', 'DecodeOptions', 'DeleteOnCloseFields',
  'DeleteOnNoLinksFields', 'DeleteOnNoLinksOrMessagesFields', 'DeleteOnNoMessagesFields',
  'DeliveriesOptions', 'DeliveryState', 'DetachFields', 'DischargeFields', 'DisconnectedEvent',
  'DispositionFields', 'EndFields', 'EndpointKind', 'ErrorCondition', 'ErrorFields', 'Fields',
  'FlowFields', 'Forwarded', 'HandlerErrorAction', 'HandlerResult', 'HandlerScope', 'HeaderFields',
  'LinkEvent', 'LinkOptions', 'ListenOptions', 'ListenSaslOptions', 'Message', 'MessageEvent',
  'MessageHeader', 'MessageId', 'MessageProperties', 'MessagingHandler', 'ModifiedFields',
  'ModifyOptions', 'OpenFields', 'Outcome', 'OutgoingMessage', 'PropertiesFields', 'QuarkEvent',
  'QuarkEventType', 'QueueStats', 'ReceivedFields', 'ReceiverEvent', 'ReceiverOptions',
  'ReconnectedEvent', 'ReconnectOptions', 'RejectedFields', 'ReleasedFields', 'RequesterOptions',
  'RequestHandler', 'ResponderOptions', 'SaslChallengeFields', 'SaslCredentials', 'SaslInitFields',
  'SaslMechanismsFields', 'SaslOutcomeFields', 'SaslResponseFields', 'ScramCredentials', 'ScramHash',
  'SenderEvent', 'SenderOptions', 'SendOptions', 'SendResult', 'SendToOptions', 'SessionEvent',
  'SessionOptions', 'Source', 'SourceFields', 'StoredUser', 'SubscribeOptions', 'Target',
  'TargetFields', 'TerminusOptions', 'TimerEvent', 'TlsFailureReason', 'TlsInfo', 'TrackerEvent',
  'TransactionalStateFields', 'TransactionEvent', 'TransactionState', 'TransferFields', 'TypedName',
  'TypedValues', 'UnacceptedOutcome', 'ValuesMode', 'WebSocketConnectOptions',
  'WebSocketFailureReason', 'WebSocketListenOptions',
];
