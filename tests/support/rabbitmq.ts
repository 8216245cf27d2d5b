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

/** Where the Debian package puts RabbitMQ's own scripts (the scripts run them directly). */
const RABBITMQ_BIN = process.env.QUARK_RABBITMQ_HOME ?? '/usr/lib/rabbitmq/bin';

export interface RabbitMq {
  host: string;
  port: number;
  /** The TLS (amqps) listener's port, when the node was asked for one ({@link UseRabbitMqOptions.tls}). */
  tlsPort: number | undefined;
  /** Runs rabbitmqctl against the node, e.g. `ctl('close_all_connections', 'test')`. */
  ctl(...args: string[]): Promise<string>;
  /**
   * Drops every client connection of the node at the TCP level, as a crash of the connection would:
   * kills each connection's reader process (no AMQP close is sent). Needed because RabbitMQ 3.10's
   * `close_all_connections` ends AMQP 1.0 sessions but leaves the connections open.
   */
  dropConnections(): Promise<void>;
  /**
   * Crashes the whole node: SIGKILLs its Erlang VM (`scripts/rabbitmq.sh kill`). Every client
   * connection drops at once without an AMQP close (the peer sees a reset), and the port refuses
   * connections until {@link RabbitMq.revive}. Resolves once the VM is gone (well under 0.5 s).
   *
   * Rejects while another live test process uses the same node: kill it only on a node of the
   * suite's own (`useRabbitMq({ port })` with a port no other suite uses), or it would break the
   * other suites' tests.
   */
  kill(): Promise<void>;
  /**
   * Starts the node again after {@link RabbitMq.kill} (`scripts/rabbitmq.sh revive`), with its
   * database (durable queues and their persistent messages survive); resolves once an AMQP 1.0
   * login works, about 2-3 s later (up to 5 s on a busy machine). Resolves at once if the node is
   * up. This process stays registered as a user of the node.
   */
  revive(): Promise<void>;
  /** Unregisters this process; stops the node if no other process uses it and it was not started by hand. */
  release(): Promise<void>;
}

/** How a run of one of the RabbitMQ scripts ended. */
export interface ScriptRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `scripts/<script> args...` with bash (killed after `timeout` ms), with `env` added to the environment. */
export function runRabbitMqScript(
  script: string,
  args: string[],
  timeout: number,
  env: Record<string, string> = {},
): Promise<ScriptRun> {
  const path = fileURLToPath(new URL(`../../scripts/${script}`, import.meta.url));
  return new Promise((resolve) => {
    execFile(
      'bash',
      [path, ...args],
      { timeout, encoding: 'utf8', env: { ...process.env, ...env } },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
        resolve({
          code,
          stdout,
          stderr: stderr + (error && typeof error.code !== 'number' ? `\n${error.message}` : ''),
        });
      },
    );
  });
}

/** Like {@link runRabbitMqScript}, but rejects (with the script's output) unless it exits 0; resolves with its stdout. */
export async function runRabbitMqScriptOk(
  script: string,
  args: string[],
  timeout: number,
  env: Record<string, string> = {},
): Promise<string> {
  const r = await runRabbitMqScript(script, args, timeout, env);
  if (r.code !== 0)
    throw new Error(`scripts/${script} ${args.join(' ')} failed (exit ${r.code}):\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

/**
 * Throws a clear error when RabbitMQ is not installed (a suite calling this in `beforeAll` fails,
 * never skips).
 */
export function requireRabbitMq(
  what = 'this suite needs a real RabbitMQ 3.10+ broker with the rabbitmq_amqp1_0 plugin',
): void {
  if (!existsSync(`${RABBITMQ_BIN}/rabbitmq-server`)) {
    throw new Error(
      `RabbitMQ is not installed (no ${RABBITMQ_BIN}/rabbitmq-server): ${what}. Install it with ` +
        '`apt-get install rabbitmq-server` (the suite starts its own nodes with the scripts in scripts/; no service needs ' +
        `to run).${process.env.CI ? ' This is CI: interop suites must run here, they are never skipped.' : ''}`,
    );
  }
}

export interface UseRabbitMqOptions {
  /**
   * The node's AMQP port (default: QUARK_RABBITMQ_PORT, else 5673); each port is a separate node
   * (quark-test-<port>@localhost, Erlang distribution on port + 20000). A suite that kills the node
   * needs a port of its own.
   */
  port?: number;
  /**
   * Give the node a TLS listener too (scripts/rabbitmq.sh with QUARK_RABBITMQ_TLS_DIR): `dir` holds
   * ca.pem, server.pem and server-key.pem; the listener (on 127.0.0.1, `port`, default the AMQP
   * port + 1) asks clients for a certificate signed by ca.pem but admits them without one, and
   * offers PLAIN, AMQPLAIN and EXTERNAL (user name: the client certificate's CN). A node already up
   * with other certificates fails the start: use a port no other suite uses.
   */
  tls?: { dir: string; port?: number };
}

/** Starts the private node if it is not up; resolves once an AMQP 1.0 login works. */
export async function useRabbitMq(options: UseRabbitMqOptions = {}): Promise<RabbitMq> {
  requireRabbitMq();
  const port = options.port ?? Number(process.env.QUARK_RABBITMQ_PORT ?? 5673);
  const tlsPort = options.tls ? (options.tls.port ?? port + 1) : undefined;
  const env: Record<string, string> = { QUARK_RABBITMQ_PORT: String(port) };
  if (options.tls)
    Object.assign(env, { QUARK_RABBITMQ_TLS_DIR: options.tls.dir, QUARK_RABBITMQ_TLS_PORT: String(tlsPort) });
  const owner = String(process.pid);
  // Registers this process as a user of the node, starting the node if it is down. The node is
  // stopped by release() once no live process uses it, unless someone started it by hand.
  await runRabbitMqScriptOk('rabbitmq.sh', ['start', '--owner', owner], 150_000, env);
  const ctl = (...args: string[]): Promise<string> => runRabbitMqScriptOk('rabbitmq.sh', ['ctl', ...args], 60_000, env);
  return {
    host: '127.0.0.1',
    port,
    tlsPort,
    ctl,
    async dropConnections(): Promise<void> {
      await ctl(
        'eval',
        '[exit(P, kill) || {Ref, _} <- ranch_server:get_listener_sups(), Sup <- ranch:procs(Ref, connections), ' +
          '{reader, P, _, _} <- supervisor:which_children(Sup)], ok.',
      );
    },
    async kill(): Promise<void> {
      await runRabbitMqScriptOk('rabbitmq.sh', ['kill', '--owner', owner], 30_000, env);
    },
    async revive(): Promise<void> {
      await runRabbitMqScriptOk('rabbitmq.sh', ['revive'], 120_000, env);
    },
    async release(): Promise<void> {
      await runRabbitMqScriptOk('rabbitmq.sh', ['stop', '--owner', owner], 90_000, env);
    },
  };
}
