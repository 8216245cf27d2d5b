/**
 * The chaos-test harness itself (tests/support/rabbitmq-cluster.ts, scripts/rabbitmq-cluster.sh),
 * checked with rhea as an independent client, so that a failure here is the harness's or
 * RabbitMQ's, never Quark's: three nodes that form one cluster, a SIGKILL that drops the node's
 * connections at once, a quorum queue that keeps every accepted message when its leader's node
 * dies, and a revived node that rejoins. About 15 s; without RabbitMQ installed the suite fails
 * (never skips).
 */
import { randomUUID } from 'node:crypto';
import rhea, { type Connection as RheaConnection, type EventContext } from 'rhea';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { useRabbitMqCluster, type RabbitMqCluster } from '../support/rabbitmq-cluster.js';

let cluster: RabbitMqCluster | undefined;
const connections = new Set<RheaConnection>();

beforeAll(async () => {
  cluster = await useRabbitMqCluster();
}, 240_000);

afterAll(async () => {
  await cluster?.stop();
}, 120_000);

afterEach(() => {
  for (const c of connections) if (!c.is_closed()) c.close();
  connections.clear();
});

function the(): RabbitMqCluster {
  if (!cluster) throw new Error('the cluster did not start (see beforeAll)');
  return cluster;
}

/** Opens a rhea connection (no reconnect) to a node's port as guest. */
function connectTo(port: number): Promise<RheaConnection> {
  const connection = rhea.create_container({ id: `harness-${randomUUID()}` }).connect({
    host: '127.0.0.1',
    port,
    username: 'guest',
    password: 'guest',
    reconnect: false,
  });
  connections.add(connection);
  connection.on('error', () => undefined); // reported through the promises below
  return new Promise((resolve, reject) => {
    connection.once('connection_open', () => resolve(connection));
    connection.once('connection_error', (ctx: EventContext) => reject(new Error(`connection error: ${String(ctx.connection.error)}`)));
    connection.once('disconnected', (ctx: EventContext) => reject(new Error(`disconnected: ${String(ctx.error)}`)));
  });
}

/** Sends `count` durable messages (bodies `message <i>`); resolves once the broker accepted every one. */
function sendAll(connection: RheaConnection, address: string, count: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const sender = connection.open_sender({ target: { address } });
    let sent = 0;
    let accepted = 0;
    sender.on('sendable', () => {
      while (sent < count && sender.sendable()) sender.send({ durable: true, message_id: sent, body: `message ${sent++}` });
    });
    sender.on('accepted', () => {
      if (++accepted === count) resolve();
    });
    sender.on('rejected', () => reject(new Error('a message was rejected')));
    sender.on('released', () => reject(new Error('a message was released')));
    sender.on('sender_error', (ctx: EventContext) => reject(new Error(`sender error: ${String(ctx.sender?.error)}`)));
  });
}

/** Receives (and accepts) until `count` distinct bodies arrived; resolves with them. */
function receiveAll(connection: RheaConnection, address: string, count: number, timeoutMs: number): Promise<Set<string>> {
  return new Promise((resolve, reject) => {
    const bodies = new Set<string>();
    const receiver = connection.open_receiver({ source: { address }, credit_window: 200, autoaccept: true });
    const timer = setTimeout(() => reject(new Error(`received ${bodies.size} of ${count} messages in ${timeoutMs} ms`)), timeoutMs);
    receiver.on('message', (ctx: EventContext) => {
      bodies.add(String(ctx.message?.body));
      if (bodies.size === count) {
        clearTimeout(timer);
        resolve(bodies);
      }
    });
    receiver.on('receiver_error', (ctx: EventContext) => {
      clearTimeout(timer);
      reject(new Error(`receiver error: ${String(ctx.receiver?.error)}`));
    });
  });
}

const ALL_MEMBERS = 'quark-cluster-1@localhost quark-cluster-2@localhost quark-cluster-3@localhost';

describe('the RabbitMQ cluster harness', () => {
  it('starts three nodes on 127.0.0.1 that form one cluster and each take an AMQP 1.0 login', async () => {
    const c = the();
    expect(c.urls).toEqual(c.ports.map((p) => `amqp://guest:guest@127.0.0.1:${p}`));
    for (const port of c.ports) await connectTo(port);
    expect(await c.status()).toContain(`running members (as node 1 sees them): ${ALL_MEMBERS}`);
  });

  it('keeps every accepted message of a quorum queue when the node its leader and the sender were on is SIGKILLed; the node rejoins on revive', async () => {
    const c = the();
    const count = 500;
    const address = await c.declareQuorumQueue(`harness-${randomUUID()}`);
    expect(address).toMatch(/^\/amq\/queue\/harness-/);

    const node1 = await connectTo(c.ports[0]!);
    await sendAll(node1, address, count);
    const dropped = new Promise<number>((resolve) => node1.once('disconnected', () => resolve(Date.now())));

    const killedAt = Date.now();
    await c.kill(1);
    // The connection drops at once (a reset, no AMQP close), and node 1 refuses new ones.
    expect((await dropped) - killedAt).toBeLessThan(2000);
    await expect(connectTo(c.ports[0]!)).rejects.toThrow(/ECONNREFUSED/);

    const node2 = await connectTo(c.ports[1]!);
    const bodies = await receiveAll(node2, address, count, 30_000);
    expect(bodies.size).toBe(count);
    for (let i = 0; i < count; i++) expect(bodies.has(`message ${i}`)).toBe(true);

    await c.revive(1);
    await connectTo(c.ports[0]!);
    expect(await c.status()).toContain(`running members (as node 1 sees them): ${ALL_MEMBERS}`);
    // The queue is empty everywhere (every message was accepted once), with a member on each node.
    const queues = await c.ctl(1, 'list_queues', 'name', 'type', 'messages', 'members', '--no-table-headers', '--quiet');
    const line = queues.split('\n').find((l) => l.startsWith(address.slice('/amq/queue/'.length)));
    expect(line).toMatch(/\tquorum\t0\t\[.*quark-cluster-1@localhost.*\]/);
  }, 60_000);
});
