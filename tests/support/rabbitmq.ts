/**
 * A private RabbitMQ node (with the AMQP 1.0 plugin) for interop suites, run by scripts/rabbitmq.sh.
 *
 * `useRabbitMq()` starts the node unless it is already up, and `release()` stops it again unless
 * another process still uses it or it was started by hand (`scripts/rabbitmq.sh start`). It throws
 * a clear error when RabbitMQ is not installed: a suite calls it in `beforeAll`, so a machine
 * without RabbitMQ FAILS the suite (never skips it), as CI requires.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('../../scripts/rabbitmq.sh', import.meta.url));
/** Where the Debian package puts RabbitMQ's own scripts (the script runs them directly). */
const RABBITMQ_BIN = process.env.QUARK_RABBITMQ_HOME ?? '/usr/lib/rabbitmq/bin';

export interface RabbitMq {
  host: string;
  port: number;
  /** Runs rabbitmqctl against the node, e.g. `ctl('close_all_connections', 'test')`. */
  ctl(...args: string[]): Promise<string>;
  /**
   * Drops every client connection of the node at the TCP level, as a crash of the connection would:
   * kills each connection's reader process (no AMQP close is sent). Needed because RabbitMQ 3.10's
   * `close_all_connections` ends AMQP 1.0 sessions but leaves the connections open.
   */
  dropConnections(): Promise<void>;
  /** Unregisters this process; stops the node if no other process uses it and it was not started by hand. */
  release(): Promise<void>;
}

function run(args: string[], timeout: number): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('bash', [SCRIPT, ...args], { timeout, encoding: 'utf8', env: process.env }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
      resolve({ code, stdout, stderr: stderr + (error && typeof error.code !== 'number' ? `\n${error.message}` : '') });
    });
  });
}

/** Starts the private node if it is not up; resolves once an AMQP 1.0 login works. */
export async function useRabbitMq(): Promise<RabbitMq> {
  if (!existsSync(`${RABBITMQ_BIN}/rabbitmq-server`)) {
    throw new Error(
      `RabbitMQ is not installed (no ${RABBITMQ_BIN}/rabbitmq-server): this suite needs a real RabbitMQ 3.10+ broker with ` +
        'the rabbitmq_amqp1_0 plugin. Install it with `apt-get install rabbitmq-server` (the suite starts its own node ' +
        `with scripts/rabbitmq.sh; no service needs to run).${process.env.CI ? ' This is CI: interop suites must run here, they are never skipped.' : ''}`,
    );
  }
  const port = Number(process.env.QUARK_RABBITMQ_PORT ?? 5673);
  // Registers this process as a user of the node, starting the node if it is down. The node is
  // stopped by release() once no live process uses it, unless someone started it by hand.
  const start = await run(['start', '--owner', String(process.pid)], 150_000);
  if (start.code !== 0) throw new Error(`scripts/rabbitmq.sh start failed (exit ${start.code}):\n${start.stderr}${start.stdout}`);
  const ctl = async (...args: string[]): Promise<string> => {
    const r = await run(['ctl', ...args], 60_000);
    if (r.code !== 0) throw new Error(`rabbitmqctl ${args.join(' ')} failed (exit ${r.code}):\n${r.stderr}${r.stdout}`);
    return r.stdout;
  };
  return {
    host: '127.0.0.1',
    port,
    ctl,
    async dropConnections(): Promise<void> {
      await ctl(
        'eval',
        '[exit(P, kill) || {Ref, _} <- ranch_server:get_listener_sups(), Sup <- ranch:procs(Ref, connections), ' +
          '{reader, P, _, _} <- supervisor:which_children(Sup)], ok.',
      );
    },
    async release(): Promise<void> {
      const r = await run(['stop', '--owner', String(process.pid)], 90_000);
      if (r.code !== 0) throw new Error(`scripts/rabbitmq.sh stop failed (exit ${r.code}):\n${r.stderr}${r.stdout}`);
    },
  };
}
