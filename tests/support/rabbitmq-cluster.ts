/**
 * A private three-node RabbitMQ cluster (with the AMQP 1.0 plugin) on loopback for failover
 * (chaos) suites, run by scripts/rabbitmq-cluster.sh: nodes quark-cluster-1..3@localhost with AMQP
 * on 127.0.0.1:5681-5683 (QUARK_RABBITMQ_CLUSTER_PORT moves them).
 *
 * `useRabbitMqCluster()` starts a fresh cluster (about 7 s) and `stop()` stops it, leaving nothing
 * running. One test process uses a cluster at a time: a second one's `useRabbitMqCluster()` fails
 * while the first holds it (a cluster started by hand with `scripts/rabbitmq-cluster.sh start` is
 * shared, and left running). It throws a clear error when RabbitMQ is not installed: a suite calls
 * it in `beforeAll`, so a machine without RabbitMQ FAILS the suite (never skips it), as CI requires.
 *
 * Facts for tests (RabbitMQ 3.10, measured here): a SIGKILLed node's clients see the TCP connection
 * reset at once; a quorum queue whose leader was on the killed node elects a new leader on the
 * others within a fraction of a second and loses no accepted message; a revived node takes logins
 * again after about 2-4 s and has rejoined the cluster by then. Keep a majority of the nodes up: a
 * quorum queue is unavailable without one, and a node revived while all the others are down waits
 * for them (revive them together: `revive(1, 2, 3)`).
 */
import { requireRabbitMq, runRabbitMqScript, runRabbitMqScriptOk } from './rabbitmq.js';

/** The nodes' numbers. */
export type ClusterNode = 1 | 2 | 3;

export interface RabbitMqCluster {
  /** `amqp://guest:guest@127.0.0.1:<port>` of nodes 1, 2 and 3 (`urls[0]` is node 1). */
  readonly urls: readonly string[];
  /** The nodes' AMQP ports (`ports[0]` is node 1's). */
  readonly ports: readonly number[];
  readonly host: string;
  /**
   * Crashes node(s): SIGKILLs each one's Erlang VM. Its client connections drop at once without an
   * AMQP close and its port refuses connections until {@link RabbitMqCluster.revive}. Resolves once
   * the VMs are gone (well under 0.5 s). Rejects if a node is not running.
   */
  kill(node: ClusterNode, ...more: ClusterNode[]): Promise<void>;
  /**
   * Starts killed node(s) again, together; resolves once each takes AMQP 1.0 logins (about 2-4 s),
   * by when it has rejoined the cluster and its quorum queue members catch up. Nodes already up
   * are left as they are.
   */
  revive(node: ClusterNode, ...more: ClusterNode[]): Promise<void>;
  /**
   * Declares the durable quorum queue `name` (letters, digits, `.`, `_`, `-`), with a member on
   * every running node and its leader on the node that declares it (node 1 when it is up); resolves
   * with its AMQP address `/amq/queue/<name>`. Declaring an existing quorum queue is fine.
   */
  declareQuorumQueue(name: string): Promise<string>;
  /** Runs rabbitmqctl against node `node`, e.g. `ctl(2, 'list_queues', 'name', 'leader')`; resolves with its stdout. */
  ctl(node: ClusterNode, ...args: string[]): Promise<string>;
  /** Each node's state and the running members, as `scripts/rabbitmq-cluster.sh status` prints them. */
  status(): Promise<string>;
  /** Stops the cluster (unless it was started by hand), leaving no process behind. */
  stop(): Promise<void>;
}

const SCRIPT = 'rabbitmq-cluster.sh';

/** Starts a fresh three-node cluster; resolves once every node takes AMQP 1.0 logins and all three form one cluster. */
export async function useRabbitMqCluster(): Promise<RabbitMqCluster> {
  requireRabbitMq(
    'this suite needs a real RabbitMQ 3.10+ installation with the rabbitmq_amqp1_0 plugin for a three-node cluster',
  );
  const base = Number(process.env.QUARK_RABBITMQ_CLUSTER_PORT ?? 5681);
  const owner = String(process.pid);
  await runRabbitMqScriptOk(SCRIPT, ['start', '--owner', owner], 240_000);
  const ports = [base, base + 1, base + 2];
  const run = (args: string[], timeout: number): Promise<string> => runRabbitMqScriptOk(SCRIPT, args, timeout);
  return {
    urls: ports.map((port) => `amqp://guest:guest@127.0.0.1:${port}`),
    ports,
    host: '127.0.0.1',
    async kill(node, ...more): Promise<void> {
      await run(['kill', String(node), ...more.map(String)], 30_000);
    },
    async revive(node, ...more): Promise<void> {
      await run(['revive', String(node), ...more.map(String)], 150_000);
    },
    async declareQuorumQueue(name): Promise<string> {
      await run(['declare-quorum', name], 60_000);
      return `/amq/queue/${name}`;
    },
    ctl: (node, ...args) => run(['ctl', String(node), ...args], 60_000),
    status: async () => (await runRabbitMqScript(SCRIPT, ['status'], 60_000)).stdout.trim(),
    async stop(): Promise<void> {
      await run(['stop', '--owner', owner], 90_000);
    },
  };
}
