/**
 * Failover across a three-node RabbitMQ cluster (one file: the cluster has one owner at a time).
 * First the chaos-test harness itself (tests/support/rabbitmq-cluster.ts, scripts/rabbitmq-cluster.sh),
 * checked with rhea as an independent client, so that a failure here is the harness's or
 * RabbitMQ's, never Quark's: three nodes that form one cluster, a SIGKILL that drops the node's
 * connections at once, a quorum queue that keeps every accepted message when its leader's node
 * dies, and a revived node that rejoins. About 15 s; without RabbitMQ installed the suite fails
 * (never skips).
 */
import { randomUUID } from 'node:crypto';
import rhea, { type Connection as RheaConnection, type EventContext } from 'rhea';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Connection } from '../../src/index.js';
import { startAtLeastOnceRun, until } from '../support/at-least-once-run.js';
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
    connection.once('connection_error', (ctx: EventContext) =>
      reject(new Error(`connection error: ${String(ctx.connection.error)}`)),
    );
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
      while (sent < count && sender.sendable())
        sender.send({ durable: true, message_id: sent, body: `message ${sent++}` });
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
function receiveAll(
  connection: RheaConnection,
  address: string,
  count: number,
  timeoutMs: number,
): Promise<Set<string>> {
  return new Promise((resolve, reject) => {
    const bodies = new Set<string>();
    const receiver = connection.open_receiver({ source: { address }, credit_window: 200, autoaccept: true });
    const timer = setTimeout(
      () => reject(new Error(`received ${bodies.size} of ${count} messages in ${timeoutMs} ms`)),
      timeoutMs,
    );
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
    const queues = await c.ctl(
      1,
      'list_queues',
      'name',
      'type',
      'messages',
      'members',
      '--no-table-headers',
      '--quiet',
    );
    const line = queues.split('\n').find((l) => l.startsWith(address.slice('/amq/queue/'.length)));
    expect(line).toMatch(/\tquorum\t0\t\[.*quark-cluster-1@localhost.*\]/);
  }, 60_000);
});

describe("Quark's failover across the cluster", () => {
  const quark: Connection[] = [];
  afterEach(async () => {
    await Promise.all(quark.splice(0).map((c) => c.close()));
  });

  it('a long at-least-once run through a quorum queue while each node in turn is SIGKILLed and revived: producer and consumer follow their urls, nothing is lost', async () => {
    const c = the();
    const total = 30_000;
    const address = await c.declareQuorumQueue(`failover-${randomUUID()}`);
    const options = { urls: [...c.urls], reconnect: { initialDelay: 50, maxDelay: 500 }, idleTimeout: 10_000 };
    const producer = await connect(options);
    const consumer = await connect(options);
    quark.push(producer, consumer);
    const visited = { producer: new Set<string>(), consumer: new Set<string>() };
    producer.events$.subscribe((e) => void (e.type === 'reconnected' && visited.producer.add(e.url)));
    consumer.events$.subscribe((e) => void (e.type === 'reconnected' && visited.consumer.add(e.url)));

    // At most about 2,000 a second: the run outlasts three kills and revives.
    const run = await startAtLeastOnceRun({
      producer,
      consumer,
      address,
      total,
      credit: 200,
      maxInFlight: 500,
      maxAhead: 1000,
      paceEvery: 4,
    });

    const nodes = [1, 2, 3] as const;
    for (const [k, node] of nodes.entries()) {
      await until(() => run.distinct >= (total * (k + 1)) / 4 || run.failures.length > 0, 120_000);
      expect(run.distinct).toBeLessThan(total);
      await c.kill(node);
      const before = run.distinct;
      // The clients move to a live node by themselves: messages keep arriving while this one is down.
      await until(() => run.distinct > before || run.failures.length > 0, 60_000);
      expect(run.distinct, `failures: ${run.failures.join('; ')}`).toBeGreaterThan(before);
      await c.revive(node); // a majority stays up: revive before the next kill
    }
    await run.done;
    console.log(
      `rabbitmq cluster failover: ${total} messages, nodes 1, 2, 3 SIGKILLed in turn; duplicates ${run.duplicates}; producer reconnected to ${[...visited.producer].join(' ')}; consumer to ${[...visited.consumer].join(' ')}`,
    );
    expect(run.failures).toEqual([]);
    expect(run.settled).toBe(total);
    expect(run.distinct).toBe(total);
    expect(visited.producer.size).toBeGreaterThanOrEqual(2); // it really moved between nodes
    expect(visited.consumer.size).toBeGreaterThanOrEqual(2);
  }, 300_000);
});
