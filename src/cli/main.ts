#!/usr/bin/env node
/**
 * The `quark` command: `broker`, `send`, `receive` and `bench`. Errors a user can cause print one
 * line: bad input (a usage error, or an `InvalidArgumentError` from the library) exits 2; a
 * connection or runtime failure (a refused connection, a failed login, a port in use) exits 1 and
 * names its AMQP condition. Only a bug prints a stack.
 */
import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { inspect, parseArgs, type ParseArgsConfig } from 'node:util';
import { connect, type Connection } from '../client/connection.js';
import type { Message } from '../codec/message.js';
import { double, long, symbol, ulong, type AmqpValue } from '../codec/values.js';
import { AmqpError, InvalidArgumentError } from '../errors.js';
import { startBroker, type BrokerOptions } from '../server/broker/broker.js';
import type { AddressPermissions } from '../server/broker/permissions.js';
import { parseUrl } from '../client/url.js';
import { Progress } from './progress.js';
import { recordToTypedJson, toTypedJson } from './typed-json.js';

const HELP: Record<string, string> = {
  main: `quark: AMQP 1.0 from the command line

Usage: quark <command> [options]

Commands:
  broker     run an embedded AMQP 1.0 broker
  send       send messages to an address
  receive    receive messages from an address
  bench      measure throughput against a URL or an in-process broker

Run 'quark <command> --help' for a command's options.`,
  broker: `Usage: quark broker [--host HOST] [--port PORT] [--websocket PORT [--websocket-path PATH]] [--user NAME:PASSWORD ...] [--permissions FILE] [--tls-cert FILE --tls-key FILE [--tls-ca FILE]] [limits]

Runs an embedded broker until interrupted (Ctrl-C).
  --host HOST             address to listen on (default 127.0.0.1)
  --port PORT             port to listen on (default 5672)
  --websocket PORT        also serve AMQP over WebSocket (ws://, or wss:// with TLS) on this port
                          (needs the ws package: npm install ws)
  --websocket-path PATH   the WebSocket's HTTP path, e.g. /amqp (default: any path)
  --user NAME:PASSWORD    a user (repeatable), kept as salted keys: logs in with SCRAM-SHA-512/256/1
                          or PLAIN; without users, ANONYMOUS is accepted
  --permissions FILE      JSON: { "user": { "send": ["orders"], "receive": ["replies.*"],
                          "dynamic": true } } (user "anonymous" for ANONYMOUS); default: all allowed
  --tls-cert FILE         serve TLS (amqps://) with this certificate (PEM) ...
  --tls-key FILE          ... and its private key (PEM)
  --tls-ca FILE           require clients to present a certificate signed by this CA (PEM)
  --allow-insecure-plain  offer PLAIN without TLS to clients on other machines (loopback clients
                          always get it)
  --dead-letter ADDRESS   where rejected messages go
Limits (what one client can make the broker hold):
  --queue-limit N         messages a queue holds before producers wait (default 10000)
  --queue-byte-limit N    bytes a queue holds before producers wait (default 64 MiB)
  --store-byte-limit N    bytes all queues hold together (default 256 MiB)
  --max-queues N          queues and subscriptions at once (default 10000)
  --max-message-size N    largest message, in bytes (default 128 MiB)
  --max-connections N     connections at once (default 10000)
  --max-connections-per-address N
                          connections at once from one client address (default 1000)`,
  send: `Usage: quark send URL [--address ADDRESS] [--count N] [--body TEXT | --file PATH] [--property KEY=VALUE ...] [--durable] [--settle]

Sends messages to the address in the URL, e.g. amqp://localhost:5672/orders.
  --address ADDRESS       the address, instead of the URL's path (needed with ws:// and wss://
                          URLs, whose path is the WebSocket's: ws://host:5673/amqp --address orders)
  --count N               how many messages (default 1)
  --body TEXT             the body, a string (default "Hello from quark")
  --file PATH             the body, the file's bytes (one data section)
  --property KEY=VALUE    an application property (repeatable); VALUE is a string, or use
                          KEY:TYPE=VALUE with TYPE int, long, ulong, double, boolean or symbol
  --subject TEXT          the subject
  --durable               mark messages durable
  --settle                send pre-settled (at-most-once): do not wait for the peer's outcome`,
  receive: `Usage: quark receive URL [--address ADDRESS] [--count N] [--timeout S] [--json]

Receives messages from the address in the URL and prints each with its sections.
  --address ADDRESS       the address, instead of the URL's path (needed with ws:// and wss:// URLs)
  --count N               stop after N messages (default: run until interrupted or --timeout)
  --timeout S             stop after S seconds without a message
  --json                  print one JSON object per message; every value carries its AMQP type
  --no-accept             release messages instead of accepting them`,
  bench: `Usage: quark bench [URL] [--address ADDRESS] [--count N] [--size BYTES] [--settle]

Sends and receives N messages through URL (default: an in-process broker) and prints the rate.
  --address ADDRESS       the address, when the URL's path cannot say it (a ws:// URL's path is the HTTP one)
  --count N               messages (default 100000)
  --size BYTES            body size (default 100)
  --settle                at-most-once (pre-settled)`,
};

class UsageError extends Error {}

function parse(args: string[], options: NonNullable<ParseArgsConfig['options']>): ReturnType<typeof parseArgs> {
  try {
    return parseArgs({
      args,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

function intOption(value: unknown, name: string, min = 1): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min)
    throw new UsageError(`--${name} must be a whole number of at least ${min}, got ${String(value)}`);
  return n;
}

/** The address send and receive use: `--address`, else the URL's path (a ws:// URL's path is the WebSocket's). */
function addressOf(url: string | undefined, command: string, address?: string): { url: string; address: string } {
  if (url === undefined)
    throw new UsageError(`${command} needs a URL with an address, e.g. amqp://localhost:5672/orders`);
  let parsed;
  try {
    parsed = parseUrl(url);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (address !== undefined) {
    if (address === '') throw new UsageError('--address needs an address, e.g. --address orders');
    if (parsed.path) throw new UsageError(`give the address either as the URL's path or with --address, not both`);
    return { url, address };
  }
  if (parsed.websocketPath !== undefined)
    throw new UsageError(
      `the path of ${url} is the WebSocket's HTTP path: give the address with --address, e.g. --address orders`,
    );
  if (!parsed.path)
    throw new UsageError(`the URL ${url} has no address: add one as its path, e.g. ${url.replace(/\/$/, '')}/orders`);
  return { url, address: parsed.path };
}

function propertyValue(spec: string): [string, AmqpValue] {
  const eq = spec.indexOf('=');
  if (eq <= 0) throw new UsageError(`--property needs KEY=VALUE, got ${JSON.stringify(spec)}`);
  const [key, type] = spec.slice(0, eq).split(':') as [string, string | undefined];
  const text = spec.slice(eq + 1);
  try {
    switch (type) {
      case undefined:
      case 'string':
        return [key, text];
      case 'int': {
        const n = Number(text);
        if (!Number.isInteger(n) || (n | 0) !== n)
          throw new InvalidArgumentError('expected a whole number from -2147483648 to 2147483647');
        return [key, n];
      }
      case 'long':
        return [key, long(text)];
      case 'ulong':
        return [key, ulong(text)];
      case 'double':
        return [key, double(Number(text))];
      case 'boolean':
        if (text !== 'true' && text !== 'false') throw new InvalidArgumentError('expected true or false');
        return [key, text === 'true'];
      case 'symbol':
        return [key, symbol(text)];
    }
  } catch (e) {
    throw new UsageError(`--property ${spec}: ${(e as Error).message}`);
  }
  throw new UsageError(
    `--property ${spec}: unknown type ${JSON.stringify(type)} (use int, long, ulong, double, boolean or symbol)`,
  );
}

async function runBroker(args: string[]): Promise<void> {
  const { values } = parse(args, {
    host: { type: 'string' },
    port: { type: 'string' },
    'queue-limit': { type: 'string' },
    'queue-byte-limit': { type: 'string' },
    'store-byte-limit': { type: 'string' },
    'max-queues': { type: 'string' },
    'max-message-size': { type: 'string' },
    'max-connections': { type: 'string' },
    'max-connections-per-address': { type: 'string' },
    permissions: { type: 'string' },
    user: { type: 'string', multiple: true },
    'allow-insecure-plain': { type: 'boolean' },
    'dead-letter': { type: 'string' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    'tls-ca': { type: 'string' },
    websocket: { type: 'string' },
    'websocket-path': { type: 'string' },
  });
  if (values.help) return void console.log(HELP.broker);
  const websocketPort = intOption(values.websocket, 'websocket', 0);
  if (values['websocket-path'] !== undefined && websocketPort === undefined)
    throw new UsageError('--websocket-path needs --websocket PORT');
  const tls = tlsOptions(
    values['tls-cert'] as string | undefined,
    values['tls-key'] as string | undefined,
    values['tls-ca'] as string | undefined,
  );
  let users: Record<string, string> | undefined;
  for (const u of (values.user as string[] | undefined) ?? []) {
    const i = u.indexOf(':');
    if (i <= 0) throw new UsageError(`--user needs NAME:PASSWORD, got ${JSON.stringify(u)}`);
    (users ??= {})[u.slice(0, i)] = u.slice(i + 1);
  }
  const options: BrokerOptions = {
    host: values.host as string | undefined,
    port: intOption(values.port, 'port', 0) ?? 5672,
    queueLimit: intOption(values['queue-limit'], 'queue-limit'),
    queueByteLimit: intOption(values['queue-byte-limit'], 'queue-byte-limit'),
    storeByteLimit: intOption(values['store-byte-limit'], 'store-byte-limit'),
    maxQueues: intOption(values['max-queues'], 'max-queues'),
    maxMessageSize: intOption(values['max-message-size'], 'max-message-size'),
    maxConnections: intOption(values['max-connections'], 'max-connections'),
    maxConnectionsPerAddress: intOption(values['max-connections-per-address'], 'max-connections-per-address'),
    permissions: permissionsFile(values.permissions as string | undefined),
    users,
    allowInsecurePlain: values['allow-insecure-plain'] as boolean | undefined,
    deadLetterAddress: values['dead-letter'] as string | undefined,
    tls,
    websocket:
      websocketPort === undefined
        ? undefined
        : { port: websocketPort, path: values['websocket-path'] as string | undefined },
  };
  // A bad option (a limit, a permissions file's shape) is an InvalidArgumentError: exit 2, as a usage error.
  const broker = await startBroker(options);
  console.log(
    `quark broker listening on ${broker.url}${broker.websocketUrl ? ` and ${broker.websocketUrl}` : ''} (Ctrl-C to stop)`,
  );
  if (users && !tls)
    console.log(
      'Users log in with SCRAM from anywhere; PLAIN (a clear-text password) is offered to clients on this machine only: give --tls-cert and --tls-key for others (or --allow-insecure-plain)',
    );
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await broker.close();
  console.log('quark broker stopped');
}

/** Tells the user on stderr when the connection is lost and comes back (it reconnects by itself). */
function reportReconnects(connection: Connection): void {
  connection.events$.subscribe((e) => {
    if (e.type === 'disconnected' && e.reconnecting)
      console.error(`quark: connection lost (${e.error.message}); reconnecting`);
    else if (e.type === 'reconnected') console.error(`quark: reconnected to ${e.url}`);
  });
}

/** The broker's permissions from --permissions FILE (read now: a bad file is a usage error; its shape is checked by startBroker). */
function permissionsFile(file: string | undefined): Record<string, AddressPermissions> | undefined {
  if (file === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UsageError(`cannot read --permissions ${file}: ${(e as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new UsageError(
      `--permissions ${file}: expected a JSON object of user names, e.g. { "alice": { "send": ["orders"] } }`,
    );
  return parsed as Record<string, AddressPermissions>;
}

/** The broker's TLS options from --tls-cert, --tls-key and --tls-ca (files read now: a bad path is a usage error). */
function tlsOptions(
  cert: string | undefined,
  key: string | undefined,
  ca: string | undefined,
): { cert: Buffer; key: Buffer; ca?: Buffer; requestCert?: boolean } | undefined {
  if (cert === undefined && key === undefined && ca === undefined) return undefined;
  if (cert === undefined || key === undefined) throw new UsageError('TLS needs both --tls-cert and --tls-key');
  const read = (file: string, flag: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (e) {
      throw new UsageError(`cannot read ${flag} ${file}: ${(e as Error).message}`);
    }
  };
  const options: { cert: Buffer; key: Buffer; ca?: Buffer; requestCert?: boolean } = {
    cert: read(cert, '--tls-cert'),
    key: read(key, '--tls-key'),
  };
  if (ca !== undefined) {
    options.ca = read(ca, '--tls-ca');
    options.requestCert = true;
  }
  return options;
}

async function runSend(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, {
    count: { type: 'string' },
    body: { type: 'string' },
    file: { type: 'string' },
    property: { type: 'string', multiple: true },
    subject: { type: 'string' },
    durable: { type: 'boolean' },
    settle: { type: 'boolean' },
    address: { type: 'string' },
  });
  if (values.help) return void console.log(HELP.send);
  const { url, address } = addressOf(positionals[0], 'send', values.address as string | undefined);
  if (values.body !== undefined && values.file !== undefined) throw new UsageError('give --body or --file, not both');
  const count = intOption(values.count, 'count') ?? 1;
  let body: AmqpValue = (values.body as string | undefined) ?? 'Hello from quark';
  if (values.file !== undefined) {
    try {
      body = readFileSync(values.file as string);
    } catch (e) {
      throw new UsageError(`cannot read --file ${String(values.file)}: ${(e as Error).message}`);
    }
  }
  const applicationProperties = Object.fromEntries(
    ((values.property as string[] | undefined) ?? []).map(propertyValue),
  );
  const connection = await connect({ url, idleTimeout: 60000 });
  reportReconnects(connection);
  try {
    // A message in doubt after a reconnect is sent again: at least once, as the command promises.
    const sender = await connection.createSender(address, {
      deliveryMode: values.settle ? 'at-most-once' : 'at-least-once',
      inDoubt: 'resend',
    });
    const progress = new Progress('sent', count);
    const message = (i: number): Message => ({
      body,
      subject: values.subject as string | undefined,
      durable: values.durable ? true : undefined,
      messageId: i,
      applicationProperties: Object.keys(applicationProperties).length > 0 ? applicationProperties : undefined,
    });
    let i = 0;
    function* messages(): Generator<Message> {
      for (; i < count; i++) {
        yield message(i);
        progress.tick();
      }
    }
    await sender.sendAll(messages());
    progress.done();
  } finally {
    await connection.close();
  }
}

async function runReceive(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, {
    count: { type: 'string' },
    timeout: { type: 'string' },
    json: { type: 'boolean' },
    'no-accept': { type: 'boolean' },
    address: { type: 'string' },
  });
  if (values.help) return void console.log(HELP.receive);
  const { url, address } = addressOf(positionals[0], 'receive', values.address as string | undefined);
  const count = intOption(values.count, 'count');
  const timeoutSeconds = values.timeout === undefined ? undefined : Number(values.timeout);
  if (timeoutSeconds !== undefined && !(timeoutSeconds > 0))
    throw new UsageError(`--timeout must be a positive number of seconds, got ${String(values.timeout)}`);
  const connection = await connect({ url });
  reportReconnects(connection);
  const interrupted = new AbortController();
  const onSignal = (): void => interrupted.abort();
  process.once('SIGINT', onSignal);
  let received = 0;
  try {
    const receiver = await connection.createReceiver({
      source: address,
      credit: Math.min(count ?? 100, 100),
      values: 'exact',
    });
    while (count === undefined || received < count) {
      const delivery = await receiver
        .receive({
          signal: interrupted.signal,
          timeout: timeoutSeconds === undefined ? undefined : timeoutSeconds * 1000,
        })
        .catch((e: unknown) => {
          if (e instanceof AmqpError && (e.condition === 'quark:timeout' || e.condition === 'quark:aborted'))
            return undefined;
          throw e;
        });
      if (!delivery) break;
      received++;
      printMessage(delivery.message, received, values.json === true);
      if (values['no-accept']) delivery.release();
      else delivery.accept();
    }
  } finally {
    process.off('SIGINT', onSignal);
    await connection.close();
  }
  if (!values.json) console.error(`received ${received} message${received === 1 ? '' : 's'}`);
}

const HEADER_FIELDS = ['durable', 'priority', 'ttl', 'firstAcquirer', 'deliveryCount'] as const;
const PROPERTY_FIELDS = [
  'messageId',
  'userId',
  'to',
  'subject',
  'replyTo',
  'correlationId',
  'contentType',
  'contentEncoding',
  'absoluteExpiryTime',
  'creationTime',
  'groupId',
  'groupSequence',
  'replyToGroupId',
] as const;

function pick(message: Message, fields: readonly string[]): Record<string, AmqpValue> | undefined {
  const out: Record<string, AmqpValue> = {};
  let any = false;
  for (const f of fields) {
    const v = (message as Record<string, unknown>)[f];
    if (v !== undefined) {
      out[f] = v as AmqpValue;
      any = true;
    }
  }
  return any ? out : undefined;
}

function printMessage(message: Message, n: number, json: boolean): void {
  const header = pick(message, HEADER_FIELDS);
  const properties = pick(message, PROPERTY_FIELDS);
  if (json) {
    const out: Record<string, unknown> = {};
    if (header) out.header = recordToTypedJson(header);
    if (message.deliveryAnnotations) out.deliveryAnnotations = recordToTypedJson(message.deliveryAnnotations);
    if (message.messageAnnotations) out.messageAnnotations = recordToTypedJson(message.messageAnnotations);
    if (properties) out.properties = recordToTypedJson(properties);
    if (message.applicationProperties) out.applicationProperties = recordToTypedJson(message.applicationProperties);
    if (message.body !== undefined) {
      out.bodyType = message.bodyType;
      out.body =
        message.bodyType === 'data'
          ? Array.isArray(message.body)
            ? message.body.map((b) => toTypedJson(b))
            : toTypedJson(message.body)
          : toTypedJson(message.body);
    }
    if (message.footer) out.footer = recordToTypedJson(message.footer);
    console.log(JSON.stringify(out));
    return;
  }
  const show = (v: unknown): string => inspect(v, { depth: 6, breakLength: 120, colors: process.stdout.isTTY });
  console.log(`message ${n}`);
  if (header) console.log(`  header: ${show(header)}`);
  if (message.deliveryAnnotations) console.log(`  delivery-annotations: ${show(message.deliveryAnnotations)}`);
  if (message.messageAnnotations) console.log(`  message-annotations: ${show(message.messageAnnotations)}`);
  if (properties) console.log(`  properties: ${show(properties)}`);
  if (message.applicationProperties) console.log(`  application-properties: ${show(message.applicationProperties)}`);
  if (message.body !== undefined) console.log(`  body (${message.bodyType ?? 'value'}): ${show(message.body)}`);
  if (message.footer) console.log(`  footer: ${show(message.footer)}`);
}

async function runBench(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, {
    count: { type: 'string' },
    size: { type: 'string' },
    settle: { type: 'boolean' },
    address: { type: 'string' },
  });
  if (values.help) return void console.log(HELP.bench);
  const count = intOption(values.count, 'count') ?? 100000;
  const size = intOption(values.size, 'size', 0) ?? 100;
  const broker = positionals[0] === undefined ? await startBroker({ port: 0 }) : undefined;
  const target =
    positionals[0] === undefined
      ? { url: broker!.url, address: (values.address as string | undefined) ?? 'bench' }
      : addressOf(positionals[0], 'bench', values.address as string | undefined);
  const body = 'x'.repeat(size);
  let producer: Connection | undefined;
  let consumer: Connection | undefined;
  try {
    producer = await connect(target.url);
    consumer = await connect(target.url);
    const receiver = await consumer.createReceiver({ source: target.address, credit: 1000, autoAccept: true });
    const sender = await producer.createSender({
      target: target.address,
      deliveryMode: values.settle ? 'at-most-once' : 'at-least-once',
    });
    const progress = new Progress('received', count);
    const start = performance.now();
    const cpu = process.cpuUsage();
    const received = (async () => {
      for (let n = 0; n < count; n++) {
        await receiver.receive({ timeout: 30000 });
        progress.tick();
      }
    })();
    function* messages(): Generator<Message> {
      for (let i = 0; i < count; i++) yield { body };
    }
    await Promise.all([sender.sendAll(messages()), received]);
    const seconds = (performance.now() - start) / 1000;
    const used = process.cpuUsage(cpu);
    progress.done();
    console.log(
      `${count} messages of ${size} bytes, ${values.settle ? 'at-most-once' : 'at-least-once'}: ${Math.round(count / seconds).toLocaleString('en-US')} msg/s, ${((used.user + used.system) / count).toFixed(1)} us CPU per message (sender, receiver${broker ? ' and broker' : ''} in this process)`,
    );
  } finally {
    await producer?.close();
    await consumer?.close();
    await broker?.close();
  }
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case undefined:
      case '--help':
      case '-h':
      case 'help':
        console.log(HELP.main);
        return command === undefined ? 2 : 0;
      case '--version':
        console.log(JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')).version);
        return 0;
      case 'broker':
        await runBroker(rest);
        return 0;
      case 'send':
        await runSend(rest);
        return 0;
      case 'receive':
        await runReceive(rest);
        return 0;
      case 'bench':
        await runBench(rest);
        return 0;
    }
    throw new UsageError(`unknown command ${JSON.stringify(command)}; run 'quark --help'`);
  } catch (e) {
    // Bad input (ours or the library's refusal of it) is the user's to fix: exit 2, like a usage error.
    if (e instanceof UsageError || e instanceof InvalidArgumentError) {
      console.error(`quark: ${e.message}`);
      return 2;
    }
    // A connection or runtime failure: one line with its condition, which says what class of failure it was.
    if (e instanceof AmqpError) {
      console.error(`quark: ${e.message}${e.message.includes(e.condition) ? '' : ` (${e.condition})`}`);
      return 1;
    }
    throw e; // a bug: printed with its stack below
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    console.error(`quark: unexpected failure: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    process.exitCode = 1;
  },
);
