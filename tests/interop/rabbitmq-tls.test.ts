/**
 * Quark's client against RabbitMQ 3.10's TLS listener (amqps) with the rabbitmq_amqp1_0 and
 * rabbitmq_auth_mechanism_ssl plugins: SASL PLAIN over TLS, SASL EXTERNAL with a client certificate
 * (RabbitMQ maps the certificate's CN to a user), and the ways a TLS connection fails.
 *
 * The suite owns its node (scripts/rabbitmq.sh with QUARK_RABBITMQ_TLS_DIR: quark-test-5677@localhost,
 * AMQP on 127.0.0.1:5677, TLS on 127.0.0.1:5678; QUARK_RABBITMQ_TLS_SUITE_PORT moves both), starts it
 * in beforeAll and stops it in afterAll. Its certificates are made afresh by the suite with the
 * openssl CLI: a CA, the server's certificate (CN localhost, SAN DNS:localhost and IP:127.0.0.1), a
 * client certificate whose CN is a RabbitMQ user, a client certificate from a CA RabbitMQ does not
 * know, and an expired server certificate, served by a second TLS listener (AMQP port + 2) that the
 * suite adds to the running node. Without RabbitMQ installed the suite fails (never skips).
 *
 * The node asks every TLS client for a certificate (verify_peer) but admits clients without one
 * (fail_if_no_peer_cert = false). It offers PLAIN, AMQPLAIN and EXTERNAL on every TLS connection,
 * with or without a client certificate (rabbit_auth_mechanism_ssl:should_offer/1 is true for any
 * TLS socket), and refuses EXTERNAL from a client that sent none.
 *
 * RabbitMQ delays every refused login: it sends the sasl-outcome 3 s after the client's response,
 * and closes the socket 3 s after that. The two tests of refused logins take 3 s each.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AuthenticationError, TlsError, connect, type ConnectOptions, type Connection } from '../../src/index.js';
import { runRabbitMqScript, useRabbitMq, type RabbitMq } from '../support/rabbitmq.js';

const PORT = Number(process.env.QUARK_RABBITMQ_TLS_SUITE_PORT ?? 5677);
const TLS_PORT = PORT + 1;
/** A second TLS listener, added by the suite, that presents an expired certificate. */
const EXPIRED_PORT = PORT + 2;
const HOST = '127.0.0.1';

/** The user of the client certificate (its CN): it has no password, EXTERNAL is its only way in. */
const CERT_USER = 'quark-tls-cert';
/** A user with a password, for PLAIN over TLS. */
const PLAIN_USER = 'quark-tls-plain';
const PLAIN_PASSWORD = randomBytes(12).toString('hex');

const TEST_TIMEOUT = 20_000;

interface Pki {
  dir: string;
  ca: Buffer;
  /** Our client certificate (CN = CERT_USER, signed by the CA) and its key. */
  clientCert: Buffer;
  clientKey: Buffer;
  /** A CA the broker does not know, and a client certificate (CN = CERT_USER) it signed. */
  rogueCa: Buffer;
  rogueClientCert: Buffer;
  rogueClientKey: Buffer;
}

let pki: Pki;
let rabbit: RabbitMq | undefined;
let expiredListener = false;
const connections: Connection[] = [];

/** Runs openssl in `dir` (throws with its stderr if it fails). */
function openssl(dir: string, ...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

/** A self-signed CA: `name`.pem and `name`-key.pem. */
function makeCa(dir: string, name: string, cn: string): void {
  openssl(
    dir,
    'req',
    '-x509',
    ...EC_KEY,
    '-keyout',
    `${name}-key.pem`,
    '-out',
    `${name}.pem`,
    '-days',
    '2',
    '-subj',
    `/CN=${cn}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  );
}

/** A key and certificate request: `name`-key.pem and `name`.csr. */
function makeRequest(dir: string, name: string, cn: string): void {
  openssl(dir, 'req', '-new', ...EC_KEY, '-keyout', `${name}-key.pem`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
}

/** `name`.pem: `name`.csr signed by CA `ca` for two days, with the extensions in file `ext`. */
function sign(dir: string, name: string, ca: string, ext: string): void {
  openssl(
    dir,
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${ca}.pem`,
    '-CAkey',
    `${ca}-key.pem`,
    '-set_serial',
    `0x${randomBytes(8).toString('hex')}`,
    '-days',
    '2',
    '-extfile',
    ext,
    '-out',
    `${name}.pem`,
  );
}

const SERVER_EXT =
  'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n';
const CLIENT_EXT = 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n';

/** Fresh certificates in a new temporary directory (about 50 ms). */
function makePki(): Pki {
  const dir = mkdtempSync(join(tmpdir(), 'quark-rabbitmq-tls-certs-'));
  writeFileSync(join(dir, 'server.ext'), SERVER_EXT);
  writeFileSync(join(dir, 'client.ext'), CLIENT_EXT);
  makeCa(dir, 'ca', 'Quark RabbitMQ Test CA');
  makeRequest(dir, 'server', 'localhost');
  sign(dir, 'server', 'ca', 'server.ext');
  makeRequest(dir, 'client', CERT_USER);
  sign(dir, 'client', 'ca', 'client.ext');
  makeCa(dir, 'rogue-ca', 'Quark Rogue CA');
  makeRequest(dir, 'rogue-client', CERT_USER);
  sign(dir, 'rogue-client', 'rogue-ca', 'client.ext');
  // The expired server certificate: `openssl x509` (OpenSSL 3.0) cannot set dates in the past,
  // `openssl ca` can (-startdate/-enddate), with a minimal CA configuration.
  writeFileSync(join(dir, 'index.txt'), '');
  writeFileSync(join(dir, 'serial'), `${randomBytes(8).toString('hex')}\n`);
  writeFileSync(
    join(dir, 'ca.cnf'),
    '[ca]\ndefault_ca = test_ca\n[test_ca]\ndatabase = ./index.txt\nnew_certs_dir = .\nserial = ./serial\ndefault_md = sha256\n' +
      'policy = any\nunique_subject = no\n[any]\ncommonName = supplied\n' +
      `[server_ext]\n${SERVER_EXT.replace(/=/g, ' = ')}`,
  );
  makeRequest(dir, 'expired', 'localhost');
  openssl(
    dir,
    'ca',
    '-batch',
    '-config',
    'ca.cnf',
    '-cert',
    'ca.pem',
    '-keyfile',
    'ca-key.pem',
    '-in',
    'expired.csr',
    '-out',
    'expired.pem',
    '-startdate',
    '20200101000000Z',
    '-enddate',
    '20200102000000Z',
    '-extensions',
    'server_ext',
    '-notext',
  );
  const read = (f: string): Buffer => readFileSync(join(dir, f));
  return {
    dir,
    ca: read('ca.pem'),
    clientCert: read('client.pem'),
    clientKey: read('client-key.pem'),
    rogueCa: read('rogue-ca.pem'),
    rogueClientCert: read('rogue-client.pem'),
    rogueClientKey: read('rogue-client-key.pem'),
  };
}

/** Runs rabbitmqctl; fails with its output unless it succeeds. */
async function ctl(...args: string[]): Promise<string> {
  return rabbit!.ctl(...args);
}

/** Creates `user` afresh (the node's database outlives a stop) with full permissions on vhost /. */
async function addUser(user: string, password: string): Promise<void> {
  await runRabbitMqScript('rabbitmq.sh', ['ctl', 'delete_user', user], 30_000, { QUARK_RABBITMQ_PORT: String(PORT) });
  await ctl('add_user', user, password);
  await ctl('set_permissions', '-p', '/', user, '.*', '.*', '.*');
}

beforeAll(async () => {
  pki = makePki();
  rabbit = await useRabbitMq({ port: PORT, tls: { dir: pki.dir, port: TLS_PORT } });
  await Promise.all([
    ctl('eval', 'rabbit:log_locations().').then((out) => {
      logFile = /"([^"]+\.log)"/.exec(out)![1]!;
    }),
    addUser(PLAIN_USER, PLAIN_PASSWORD),
    // RabbitMQ's add_user needs a password: clear it, so the certificate is this user's only way in.
    addUser(CERT_USER, randomBytes(12).toString('hex')).then(() => ctl('clear_password', CERT_USER)),
    // A second TLS listener on the running node, with the expired certificate (RabbitMQ has one set
    // of ssl_options for all its TLS listeners in rabbitmq.conf, but starts more at run time).
    ctl(
      'eval',
      `rabbit_networking:start_ssl_listener({"${HOST}", ${EXPIRED_PORT}}, [{cacertfile, "${pki.dir}/ca.pem"}, ` +
        `{certfile, "${pki.dir}/expired.pem"}, {keyfile, "${pki.dir}/expired-key.pem"}, {verify, verify_peer}, {fail_if_no_peer_cert, false}], 1).`,
    ).then((out) => {
      if (out.trim() !== 'ok')
        throw new Error(`could not start the expired-certificate listener on ${HOST}:${EXPIRED_PORT}: ${out}`);
      expiredListener = true;
    }),
  ]);
}, 180_000);

afterAll(async () => {
  await Promise.all(connections.splice(0).map((c) => c.close({ timeout: 5000 }).catch(() => undefined)));
  // Stopped before its certificate files go (the node may outlive the suite if started by hand).
  if (expiredListener)
    await ctl('eval', `rabbit_networking:stop_tcp_listener({"${HOST}", ${EXPIRED_PORT}}).`).catch(() => undefined);
  await rabbit?.release();
  if (pki) rmSync(pki.dir, { recursive: true, force: true });
}, 120_000);

afterEach(async () => {
  await Promise.all(connections.splice(0).map((c) => c.close({ timeout: 5000 }).catch(() => undefined)));
});

const amqps = (port = TLS_PORT): string => `amqps://${HOST}:${port}`;

async function open(options: Partial<ConnectOptions>): Promise<Connection> {
  const connection = await connect({ url: amqps(), timeout: 10_000, ...options });
  connections.push(connection);
  return connection;
}

/** What connect() rejected with; fails the test if it resolved (closing that connection). */
async function connectError(options: Partial<ConnectOptions>): Promise<unknown> {
  return connect({ url: amqps(), timeout: 10_000, ...options }).then(
    (c) => {
      connections.push(c);
      return new Error('connect() resolved, but it should have failed');
    },
    (e: unknown) => e,
  );
}

/** An error's message, code and causes' messages and codes, for matching the words OpenSSL used. */
function errorText(e: unknown): string {
  const parts: string[] = [];
  for (
    let x: unknown = e, depth = 0;
    x !== undefined && x !== null && depth < 5;
    x = (x as { cause?: unknown }).cause, depth++
  ) {
    const { name, message, code } = x as { name?: unknown; message?: unknown; code?: unknown };
    parts.push(`${String(name)}: ${String(message)}${code !== undefined ? ` [${String(code)}]` : ''}`);
  }
  return parts.join(' <- ');
}

function expectTlsError(error: unknown, reason: string, code: string): void {
  expect((error as Error).name, errorText(error)).toBe('TlsError');
  expect(error).toBeInstanceOf(TlsError);
  expect(error, errorText(error)).toMatchObject({ condition: 'quark:tls-failed', reason, code });
}

/** Sends a message to a fresh queue and receives it back on the same connection. */
async function roundTrip(connection: Connection, test: string): Promise<void> {
  const address = `/queue/quark-tls-${test}-${randomUUID()}`;
  const sender = await connection.createSender(address);
  const receiver = await connection.createReceiver(address);
  const body = `over TLS: ${test} ${randomUUID()}`;
  const outcome = await sender.send({ body, applicationProperties: { test } });
  expect(outcome?.kind).toBe('accepted');
  const delivery = await receiver.receive({ timeout: 10_000 });
  expect(delivery.message.body).toBe(body);
  expect(delivery.message.applicationProperties).toEqual({ test });
  delivery.accept();
  await Promise.all([sender.close(), receiver.close()]);
}

interface BrokerConnection {
  username: string;
  auth_mechanism: string;
  ssl: boolean;
  /** 'tlsv1.3' or 'tlsv1.2' */
  ssl_protocol: string;
  /** 'CN=...', or '' without a client certificate */
  peer_cert_subject: string;
}

/**
 * The broker's view of the open (logged-in) AMQP 1.0 connections on its TLS listener. RabbitMQ
 * 3.10.8 lists none of them (`rabbitmqctl list_amqp10_connections` and `list_connections` show
 * nothing: the AMQP 1.0 reader does not register its connections), and its info item `user`
 * crashes the connection asked (a function clause that only matches an anonymous user), so this
 * asks each reader of the listener's connections directly for `username` and the TLS items.
 */
async function brokerConnections(): Promise<BrokerConnection[]> {
  const out = await ctl(
    'eval',
    'Ask = fun(P, Items) -> P ! {info, Items, self()}, receive {info_reply, I} -> I after 200 -> [] end end, ' +
      `Rs = [maps:from_list(Ask(P, [username, auth_mechanism, ssl, ssl_protocol, peer_cert_subject])) || Sup <- ranch:procs({acceptor, {127,0,0,1}, ${TLS_PORT}}, connections), ` +
      '{reader, P, _, _} <- supervisor:which_children(Sup), Ask(P, [state]) =:= [{state, running}]], ' +
      'io:format("~s~n", [rabbit_json:encode(Rs)]).',
  );
  return JSON.parse(out.split('\n')[0]!) as BrokerConnection[];
}

/** The node's log file. */
let logFile: string;

/** Resolves once the node's log has a line matching `pattern` after byte `from`; false after `ms`. */
async function logShows(from: number, pattern: RegExp, ms = 3000): Promise<boolean> {
  const deadline = performance.now() + ms;
  for (;;) {
    if (pattern.test(readFileSync(logFile).subarray(from).toString('utf8'))) return true;
    if (performance.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('Quark client against RabbitMQ 3.10 over TLS (amqps)', () => {
  it(
    'PLAIN over TLS (no client certificate): logs in as a RabbitMQ user and carries a message through a queue',
    async () => {
      const connection = await open({ tls: { ca: pki.ca }, username: PLAIN_USER, password: PLAIN_PASSWORD });
      expect(connection.isOpen).toBe(true);
      expect(connection.remoteProperties?.product).toBe('RabbitMQ');
      await roundTrip(connection, 'plain');
      const mine = (await brokerConnections()).filter((c) => c.username === PLAIN_USER);
      expect(mine).toEqual([expect.objectContaining({ auth_mechanism: 'PLAIN', ssl: true, peer_cert_subject: '' })]);
    },
    TEST_TIMEOUT,
  );

  it(
    'a wrong password over TLS fails connect() with an AuthenticationError (amqp:unauthorized-access)',
    async () => {
      const error = await connectError({ tls: { ca: pki.ca }, username: PLAIN_USER, password: 'not-the-password' });
      expect(error, errorText(error)).toBeInstanceOf(AuthenticationError);
      expect((error as AuthenticationError).condition).toBe('amqp:unauthorized-access');
    },
    TEST_TIMEOUT,
  );

  it(
    'EXTERNAL (sasl.mechanisms: [EXTERNAL]) with a client certificate: RabbitMQ logs the client in as the user its CN names; a message goes through',
    async () => {
      const connection = await open({
        tls: { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey },
        sasl: { mechanisms: ['EXTERNAL'] },
      });
      await roundTrip(connection, 'external');
      const mine = (await brokerConnections()).filter((c) => c.username === CERT_USER);
      expect(mine).toEqual([
        expect.objectContaining({ auth_mechanism: 'EXTERNAL', ssl: true, peer_cert_subject: `CN=${CERT_USER}` }),
      ]);
    },
    TEST_TIMEOUT,
  );

  it(
    'with a client certificate and no user name, the default mechanism choice is EXTERNAL',
    async () => {
      const connection = await open({ tls: { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey } });
      expect(connection.authentication?.mechanism).toBe('EXTERNAL');
      await roundTrip(connection, 'external-default');
      const mine = (await brokerConnections()).filter((c) => c.username === CERT_USER);
      expect(mine).toEqual([
        expect.objectContaining({ auth_mechanism: 'EXTERNAL', ssl: true, peer_cert_subject: `CN=${CERT_USER}` }),
      ]);
    },
    TEST_TIMEOUT,
  );

  it(
    'RabbitMQ offers EXTERNAL to every TLS client, and refuses it (AuthenticationError, after its 3 s delay) when the client sent no certificate',
    async () => {
      const t0 = performance.now();
      const error = await connectError({ tls: { ca: pki.ca }, sasl: { mechanisms: ['EXTERNAL'] } });
      expect(error, errorText(error)).toBeInstanceOf(AuthenticationError);
      expect((error as AuthenticationError).condition).toBe('amqp:unauthorized-access');
      // RabbitMQ holds back every refused login's sasl-outcome for 3 s (SILENT_CLOSE_DELAY).
      expect(performance.now() - t0).toBeGreaterThan(2500);
    },
    TEST_TIMEOUT,
  );

  it(
    'a client certificate from a CA the broker does not know: the broker refuses the TLS handshake and connect() rejects',
    async () => {
      const logSize = readFileSync(logFile).length;
      const t0 = performance.now();
      const error = await connectError({
        tls: { ca: pki.ca, cert: pki.rogueClientCert, key: pki.rogueClientKey },
        username: PLAIN_USER,
        password: PLAIN_PASSWORD,
      });
      expect(performance.now() - t0).toBeLessThan(2000); // refused at once, not by a time-out
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).name, errorText(error)).not.toBe('AuthenticationError');
      // With TLS 1.3 the client has finished its side of the handshake (and sent its SASL header) when
      // the broker checks the certificate; the broker's alert unknown_ca is usually lost, as RabbitMQ
      // closes its sockets with linger 0 (a reset): the client sees ECONNRESET (or EPIPE), or the alert.
      expect(errorText(error)).toMatch(/unknown ca|ECONNRESET|EPIPE/i);
      // The broker says why: its TLS server sent the alert Unknown CA.
      expect(await logShows(logSize, /TLS server: .* SERVER ALERT: Fatal - Unknown CA/)).toBe(true);
    },
    TEST_TIMEOUT,
  );

  it(
    'over TLS 1.2 the same refusal comes inside the handshake: TlsError with the alert unknown ca',
    async () => {
      const error = await connectError({
        tls: { ca: pki.ca, cert: pki.rogueClientCert, key: pki.rogueClientKey, maxVersion: 'TLSv1.2' },
        username: PLAIN_USER,
        password: PLAIN_PASSWORD,
      });
      expectTlsError(error, 'certificate-required', 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA');
    },
    TEST_TIMEOUT,
  );

  it(
    'a server certificate from a CA the client does not trust fails connect() with TlsError reason unknown-ca',
    async () => {
      // The client trusts another CA only...
      const error = await connectError({ tls: { ca: pki.rogueCa }, username: PLAIN_USER, password: PLAIN_PASSWORD });
      // RabbitMQ sends its CA (from ssl_options.cacertfile) with its certificate, so the chain ends
      // in a self-signed root the client does not trust: SELF_SIGNED_CERT_IN_CHAIN, not
      // UNABLE_TO_VERIFY_LEAF_SIGNATURE. Still an unknown CA, not a self-signed server certificate.
      expectTlsError(error, 'unknown-ca', 'SELF_SIGNED_CERT_IN_CHAIN');
      // ... or the system's CAs (no `ca` given).
      const error2 = await connectError({ username: PLAIN_USER, password: PLAIN_PASSWORD });
      expectTlsError(error2, 'unknown-ca', 'SELF_SIGNED_CERT_IN_CHAIN');
    },
    TEST_TIMEOUT,
  );

  it(
    'a server certificate for another host name fails connect() with TlsError reason hostname-mismatch',
    async () => {
      // The certificate is for localhost and 127.0.0.1; the client is told to expect another name.
      const error = await connectError({
        tls: { ca: pki.ca, servername: 'not-this-broker.invalid' },
        username: PLAIN_USER,
        password: PLAIN_PASSWORD,
      });
      expectTlsError(error, 'hostname-mismatch', 'ERR_TLS_CERT_ALTNAME_INVALID');
    },
    TEST_TIMEOUT,
  );

  it(
    'an expired server certificate fails connect() with TlsError reason expired',
    async () => {
      const error = await connectError({
        url: amqps(EXPIRED_PORT),
        tls: { ca: pki.ca },
        username: PLAIN_USER,
        password: PLAIN_PASSWORD,
      });
      expectTlsError(error, 'expired', 'CERT_HAS_EXPIRED');
    },
    TEST_TIMEOUT,
  );

  it(
    'connection.tls describes the session: TLS 1.3 or 1.2, cipher, authorized, the server certificate; undefined on plain TCP',
    async () => {
      const connection = await open({
        tls: { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey },
        username: PLAIN_USER,
        password: PLAIN_PASSWORD,
      });
      const info = connection.tls;
      expect(info).toBeDefined();
      expect(['TLSv1.3', 'TLSv1.2']).toContain(info!.protocol);
      expect(info!.cipher).toMatch(/^TLS_|^ECDHE-|_WITH_/);
      expect(info!.authorized).toBe(true);
      expect(info!.authorizationError).toBeUndefined();
      expect(info!.peerCertificate?.subject.CN).toBe('localhost');
      expect(info!.peerCertificate?.issuer.CN).toBe('Quark RabbitMQ Test CA');
      expect(connection.authentication).toEqual({ mechanism: 'PLAIN', username: PLAIN_USER });
      // The broker sees the same protocol, and the client certificate (sent though PLAIN was used).
      const mine = (await brokerConnections()).filter((c) => c.username === PLAIN_USER);
      expect(mine).toEqual([
        expect.objectContaining({
          ssl: true,
          ssl_protocol: info!.protocol.replace('TLSv', 'tlsv'),
          peer_cert_subject: `CN=${CERT_USER}`,
        }),
      ]);

      // TLS 1.2 when the client asks for it.
      const tls12 = await open({
        tls: { ca: pki.ca, maxVersion: 'TLSv1.2' },
        username: PLAIN_USER,
        password: PLAIN_PASSWORD,
      });
      expect(tls12.tls?.protocol).toBe('TLSv1.2');
      expect(tls12.tls?.authorized).toBe(true);

      const plain = await connect({
        host: HOST,
        port: PORT,
        username: PLAIN_USER,
        password: PLAIN_PASSWORD,
        timeout: 10_000,
      });
      connections.push(plain);
      expect(plain.tls).toBeUndefined();
    },
    TEST_TIMEOUT,
  );
});
