/**
 * SASL login on the listening side: which mechanisms a listener offers, the refusal of anything
 * else, SCRAM (SHA-1, -256, -512) against salted keys with unknown users indistinguishable from
 * wrong passwords, PLAIN checked against the same keys, authorization identities, EXTERNAL with a
 * verified TLS client certificate, and the identity both sides record (`connection.authentication`).
 * Also the client's side of SCRAM against a scripted server that claims success without proof.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SASL_FRAME_TYPE } from '../../src/codec/frames.js';
import { compositeSpecs } from '../../src/codec/spec-tables.js';
import {
  InvalidArgumentError,
  AuthenticationError,
  SaslUsers,
  ScramClient,
  ScramServer,
  connect,
  listen,
  scramCredentials,
  type ConnectOptions,
  type Connection,
  type ListenOptions,
  type Listener,
  type SaslCredentials,
} from '../../src/index.js';
import { RawSaslClient } from '../support/raw-sasl-client.js';
import { Expectation, ScriptedPeer } from '../support/scripted-peer.js';

let listener: Listener | undefined;
const conns: Connection[] = [];
const raws: RawSaslClient[] = [];
const peers: ScriptedPeer[] = [];
afterEach(async () => {
  for (const r of raws.splice(0)) await r.destroy();
  for (const c of conns.splice(0)) await c.close().catch(() => undefined);
  for (const p of peers.splice(0)) await p.close();
  await listener?.close();
  listener = undefined;
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(condition: () => boolean, what: string, timeout = 5000): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await sleep(5);
  }
}

// Derived once for the file (PBKDF2 for three hashes).
const users = SaslUsers.fromPasswords({ alice: 'wonder land', bob: 'builder' });
const SCRAMS = ['SCRAM-SHA-512', 'SCRAM-SHA-256', 'SCRAM-SHA-1'] as const;

/** A listener whose connections (as handed to the application) are collected. */
async function start(options: ListenOptions): Promise<{ listener: Listener; server: Connection[] }> {
  const l = await listen({ port: 0, ...options });
  const server: Connection[] = [];
  l.connections$.subscribe((c) => server.push(c));
  listener = l;
  return { listener: l, server };
}

async function client(options: ConnectOptions): Promise<Connection> {
  const c = await connect({ reconnect: false, ...options });
  conns.push(c);
  return c;
}

const refusal = (options: ConnectOptions): Promise<unknown> =>
  connect({ reconnect: false, ...options }).then(
    async (c) => {
      await c.close();
      return new Error('connected, but should have been refused');
    },
    (e: unknown) => e,
  );

describe('listen() checks its SASL options at once', () => {
  it(
    'refuses SCRAM without users, an unknown mechanism, and PLAIN with neither users nor authenticate, with an InvalidArgumentError',
    { timeout: 10_000 },
    async () => {
      await expect(listen({ port: 0, sasl: { mechanisms: ['SCRAM-SHA-256'] } })).rejects.toThrow(
        new InvalidArgumentError(
          "sasl.mechanisms: SCRAM-SHA-256 needs sasl.users (the users' salted keys): SaslUsers.fromPasswords({ name: 'password' })",
        ),
      );
      await expect(listen({ port: 0, sasl: { mechanisms: ['ANONYMOUS', 'CRAM-MD5'] } })).rejects.toThrow(
        InvalidArgumentError,
      );
      await expect(listen({ port: 0, sasl: { mechanisms: ['ANONYMOUS', 'CRAM-MD5'] } })).rejects.toThrow(
        /sasl\.mechanisms: "CRAM-MD5" is not a mechanism this server runs/,
      );
      await expect(listen({ port: 0, sasl: { mechanisms: ['PLAIN'] } })).rejects.toThrow(
        new InvalidArgumentError('sasl.mechanisms: PLAIN needs sasl.users or sasl.authenticate to check passwords'),
      );
      // The same mechanisms with what they need are fine.
      const ok = await listen({ port: 0, sasl: { mechanisms: ['SCRAM-SHA-256', 'PLAIN'], users } });
      await ok.close();
    },
  );

  it(
    'refuses users that are not a SaslUsers (a plain { name: password } object would refuse every login silently)',
    { timeout: 10_000 },
    async () => {
      const err = await listen({ port: 0, sasl: { users: { alice: 'wonder land' } as unknown as SaslUsers } }).then(
        async (l) => {
          await l.close();
          return undefined;
        },
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect((err as Error).message).toMatch(/sasl\.users/);
    },
  );
});

describe('the mechanisms a listener offers', () => {
  const offered = async (options: ListenOptions): Promise<string[]> => {
    const { listener: l } = await start(options);
    const raw = await RawSaslClient.connect(l.port);
    raws.push(raw);
    const mechanisms = await raw.mechanisms();
    await raw.destroy();
    await l.close();
    listener = undefined;
    return mechanisms;
  };

  it(
    'with users: SCRAM-SHA-512, SCRAM-SHA-256, SCRAM-SHA-1, PLAIN; with authenticate only: PLAIN; with neither: ANONYMOUS; given mechanisms in their order; EXTERNAL only with a verified certificate',
    { timeout: 10_000 },
    async () => {
      expect(await offered({ sasl: { users } })).toEqual(['SCRAM-SHA-512', 'SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN']);
      expect(await offered({ sasl: { users, authenticate: () => true } })).toEqual([
        'SCRAM-SHA-512',
        'SCRAM-SHA-256',
        'SCRAM-SHA-1',
        'PLAIN',
      ]);
      expect(await offered({ sasl: { authenticate: () => true } })).toEqual(['PLAIN']);
      expect(await offered({})).toEqual(['ANONYMOUS']);
      expect(await offered({ sasl: {} })).toEqual(['ANONYMOUS']);
      expect(await offered({ sasl: { users, mechanisms: ['PLAIN', 'SCRAM-SHA-1', 'EXTERNAL', 'ANONYMOUS'] } })).toEqual(
        ['PLAIN', 'SCRAM-SHA-1', 'ANONYMOUS'],
      );
    },
  );

  it(
    'a client that picks a mechanism it was not offered is refused with outcome auth (1), and no credential check runs',
    { timeout: 10_000 },
    async () => {
      const calls: SaslCredentials[] = [];
      const { listener: l, server } = await start({
        failedLoginDelay: 0,
        sasl: { users, mechanisms: ['SCRAM-SHA-256', 'PLAIN'], authenticate: (c) => (calls.push(c), true) },
      });
      const attempts: [string, Uint8Array | undefined][] = [
        ['ANONYMOUS', undefined],
        ['EXTERNAL', undefined],
        ['SCRAM-SHA-512', Buffer.from(new ScramClient('SHA-512', 'alice', 'wonder land').firstMessage())],
        ['CRAM-MD5', undefined],
        ['', undefined],
      ];
      for (const [mechanism, response] of attempts) {
        const raw = await RawSaslClient.connect(l.port);
        raws.push(raw);
        expect(await raw.mechanisms()).toEqual(['SCRAM-SHA-256', 'PLAIN']);
        raw.init(mechanism, response);
        const outcome = await raw.next('saslOutcome');
        expect(outcome.performative!['code'], mechanism).toBe(1);
        expect(
          raw.frames.map((f) => f.kind),
          mechanism,
        ).toEqual(['header', 'saslMechanisms', 'saslOutcome']); // no challenge
        await raw.closed;
      }
      expect(calls).toEqual([]);
      expect(server).toEqual([]);
    },
  );
});

describe('SCRAM on the listening side', () => {
  it(
    'the right password logs in with the strongest SCRAM by default; both sides record { mechanism, username }',
    { timeout: 10_000 },
    async () => {
      const { listener: l, server } = await start({ sasl: { users } });
      const c = await client({ url: l.url, username: 'alice', password: 'wonder land' });
      expect(c.authentication).toEqual({ mechanism: 'SCRAM-SHA-512', username: 'alice' });
      await waitFor(() => server.length === 1, 'the server side connection');
      expect(server[0]!.authentication).toEqual({ mechanism: 'SCRAM-SHA-512', username: 'alice' });
    },
  );

  for (const mechanism of SCRAMS) {
    it(`${mechanism} when the client allows only it`, { timeout: 10_000 }, async () => {
      const { listener: l, server } = await start({ failedLoginDelay: 0, sasl: { users } });
      const c = await client({ url: l.url, username: 'bob', password: 'builder', sasl: { mechanisms: [mechanism] } });
      expect(c.authentication).toEqual({ mechanism, username: 'bob' });
      await waitFor(() => server.length === 1, 'the server side connection');
      expect(server[0]!.authentication).toEqual({ mechanism, username: 'bob' });
      // And a wrong password with the same mechanism is refused.
      const err = await refusal({
        url: l.url,
        username: 'bob',
        password: 'builder!',
        sasl: { mechanisms: [mechanism] },
      });
      expect(err).toBeInstanceOf(AuthenticationError);
    });
  }

  it(
    'a wrong password and an unknown user are refused alike: AuthenticationError, both after a challenge, both answered after failedLoginDelay',
    { timeout: 20_000 },
    async () => {
      const delay = 300;
      const { listener: l, server } = await start({ failedLoginDelay: delay, sasl: { users } });
      for (const [username, password] of [
        ['alice', 'wrong'],
        ['nobody', 'wrong'],
      ] as const) {
        const t0 = performance.now();
        const err = await refusal({ url: l.url, username, password });
        const took = performance.now() - t0;
        expect(err, username).toBeInstanceOf(AuthenticationError);
        expect((err as Error).message, username).toMatch(/SASL outcome auth/);
        expect(took, username).toBeGreaterThanOrEqual(delay - 20);
        expect(took, username).toBeLessThan(delay + 2000);
      }
      expect(server).toEqual([]);

      // On the wire: the same frames, a server-first of the same shape, and the refusal after the delay.
      const serverFirsts: Map<string, string>[] = [];
      for (const username of ['alice', 'nobody', 'nobody']) {
        const raw = await RawSaslClient.connect(l.port);
        raws.push(raw);
        expect(await raw.mechanisms()).toEqual(['SCRAM-SHA-512', 'SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN']);
        const scram = new ScramClient('SHA-256', username, 'wrong');
        raw.init('SCRAM-SHA-256', Buffer.from(scram.firstMessage()));
        const challenge = await raw.next('saslChallenge');
        const serverFirst = Buffer.from(challenge.performative!['challenge'] as Uint8Array).toString('utf8');
        serverFirsts.push(new Map(serverFirst.split(',').map((kv) => [kv[0]!, kv.slice(2)] as [string, string])));
        const sent = performance.now();
        raw.respond(Buffer.from(scram.finalMessage(serverFirst)));
        const outcome = await raw.next('saslOutcome');
        expect(outcome.performative!['code'], username).toBe(1);
        expect(outcome.performative!['additionalData'], username).toBeUndefined();
        expect(outcome.at - sent, username).toBeGreaterThanOrEqual(delay - 20);
        expect(outcome.at - sent, username).toBeLessThan(delay + 1500);
        expect(
          raw.frames.map((f) => f.kind),
          username,
        ).toEqual(['header', 'saslMechanisms', 'saslChallenge', 'saslOutcome']);
        await raw.closed;
      }
      const [known, unknown, unknownAgain] = serverFirsts;
      expect([...unknown!.keys()]).toEqual([...known!.keys()]);
      expect(unknown!.get('i')).toBe(known!.get('i'));
      expect(Buffer.from(unknown!.get('s')!, 'base64').length).toBe(Buffer.from(known!.get('s')!, 'base64').length);
      // The made-up salt of an unknown user is the same each time (asking twice tells nothing either).
      expect(unknownAgain!.get('s')).toBe(unknown!.get('s'));
    },
  );

  it(
    'an unknown user is told the same iteration count as real users, also when the users were made with more than the default 4096',
    { timeout: 20_000 },
    async () => {
      const strong = SaslUsers.fromPasswords({ alice: 'wonder land' }, { iterations: 10_000 });
      const { listener: l } = await start({ failedLoginDelay: 0, sasl: { users: strong } });
      const serverFirstOf = async (username: string): Promise<Map<string, string>> => {
        const raw = await RawSaslClient.connect(l.port);
        raws.push(raw);
        await raw.mechanisms();
        raw.init('SCRAM-SHA-256', Buffer.from(new ScramClient('SHA-256', username, 'x').firstMessage()));
        return attributes(
          Buffer.from((await raw.next('saslChallenge')).performative!['challenge'] as Uint8Array).toString('utf8'),
        );
      };
      const known = await serverFirstOf('alice');
      const unknown = await serverFirstOf('nobody');
      expect(known.get('i')).toBe('10000');
      // Otherwise the iteration count alone tells who exists.
      expect(unknown.get('i')).toBe(known.get('i'));
    },
  );

  it(
    'users held with SCRAM-SHA-256 keys only: the default offer lets a default Quark client in with the right password',
    { timeout: 20_000 },
    async () => {
      // Keys for one hash only, as imported from another server's store.
      const sha256Only = new SaslUsers([['carol', { 'SHA-256': scramCredentials('secret', 'SHA-256') }]]);
      const { listener: l, server } = await start({ failedLoginDelay: 0, sasl: { users: sha256Only } });
      const raw = await RawSaslClient.connect(l.port);
      raws.push(raw);
      const offered = await raw.mechanisms();
      // Offering SCRAM-SHA-512 or SCRAM-SHA-1 is offering what no user can log in with: a client picks the strongest offered.
      const c = await connect({ url: l.url, username: 'carol', password: 'secret', reconnect: false }).catch(
        (e: unknown) => e,
      );
      if (c instanceof Error)
        throw new Error(`offered ${JSON.stringify(offered)}; the right password was refused: ${c.message}`);
      conns.push(c as Connection);
      expect((c as Connection).authentication?.username).toBe('carol');
      await waitFor(() => server.length === 1, 'the server side connection');
    },
  );

  it(
    'a raw client with the right password gets outcome ok carrying the server-final message that its ScramClient verifies',
    { timeout: 10_000 },
    async () => {
      const { listener: l } = await start({ sasl: { users } });
      const raw = await RawSaslClient.connect(l.port);
      raws.push(raw);
      await raw.mechanisms();
      const scram = new ScramClient('SHA-1', 'alice', 'wonder land');
      raw.init('SCRAM-SHA-1', Buffer.from(scram.firstMessage()));
      const serverFirst = Buffer.from(
        (await raw.next('saslChallenge')).performative!['challenge'] as Uint8Array,
      ).toString('utf8');
      raw.respond(Buffer.from(scram.finalMessage(serverFirst)));
      const outcome = await raw.next('saslOutcome');
      expect(outcome.performative!['code']).toBe(0);
      const serverFinal = Buffer.from(outcome.performative!['additionalData'] as Uint8Array).toString('utf8');
      expect(serverFinal).toMatch(/^v=/);
      expect(() => scram.verifyServerFinal(serverFinal)).not.toThrow();
    },
  );

  it(
    'a SCRAM client-first asking for another identity (authzid) is refused; asking for its own is accepted',
    { timeout: 10_000 },
    async () => {
      const { listener: l, server } = await start({ failedLoginDelay: 0, sasl: { users } });
      const err = await refusal({
        url: l.url,
        username: 'alice',
        password: 'wonder land',
        sasl: { mechanisms: ['SCRAM-SHA-256'], authzid: 'bob' },
      });
      expect(err).toBeInstanceOf(AuthenticationError);
      expect(server).toEqual([]);
      const c = await client({
        url: l.url,
        username: 'alice',
        password: 'wonder land',
        sasl: { mechanisms: ['SCRAM-SHA-256'], authzid: 'alice' },
      });
      expect(c.authentication).toEqual({ mechanism: 'SCRAM-SHA-256', username: 'alice' });
      // On the wire, the refusal of another authzid comes without a challenge.
      const raw = await RawSaslClient.connect(l.port);
      raws.push(raw);
      await raw.mechanisms();
      raw.init(
        'SCRAM-SHA-256',
        Buffer.from(new ScramClient('SHA-256', 'alice', 'wonder land', { authzid: 'bob' }).firstMessage()),
      );
      expect((await raw.next('saslOutcome')).performative!['code']).toBe(1);
    },
  );
});

describe('PLAIN checked against SaslUsers', () => {
  it(
    'the right password logs in (verifyPlain); a wrong one and an unknown user are refused; an authzid other than the user is refused, its own accepted',
    { timeout: 20_000 },
    async () => {
      const { listener: l, server } = await start({ failedLoginDelay: 0, sasl: { users } });
      const c = await client({
        url: l.url,
        username: 'alice',
        password: 'wonder land',
        sasl: { mechanisms: ['PLAIN'] },
      });
      expect(c.authentication).toEqual({ mechanism: 'PLAIN', username: 'alice' });
      await waitFor(() => server.length === 1, 'the server side connection');
      expect(server[0]!.authentication).toEqual({ mechanism: 'PLAIN', username: 'alice' });

      for (const [username, password, authzid] of [
        ['alice', 'wonder', undefined],
        ['nobody', 'wonder land', undefined],
        ['alice', 'wonder land', 'bob'],
        ['alice', '', undefined],
      ] as const) {
        const err = await refusal({ url: l.url, username, password, sasl: { mechanisms: ['PLAIN'], authzid } });
        expect(err, `${username}/${password}/${authzid}`).toBeInstanceOf(AuthenticationError);
      }
      expect(server).toHaveLength(1);
      const own = await client({
        url: l.url,
        username: 'alice',
        password: 'wonder land',
        sasl: { mechanisms: ['PLAIN'], authzid: 'alice' },
      });
      expect(own.isOpen).toBe(true);
      await waitFor(() => server.length === 2, 'the second server side connection');
      expect(server[1]!.authentication).toEqual({ mechanism: 'PLAIN', username: 'alice', authzid: 'alice' });
    },
  );

  it('malformed PLAIN responses are refused with outcome auth', { timeout: 10_000 }, async () => {
    const { listener: l } = await start({ failedLoginDelay: 0, sasl: { users } });
    for (const response of [
      'alice\u0000wonder land',
      '\u0000\u0000wonder land',
      '\u0000alice\u0000wonder land\u0000x',
      '',
    ]) {
      const raw = await RawSaslClient.connect(l.port);
      raws.push(raw);
      await raw.mechanisms();
      raw.init('PLAIN', Buffer.from(response));
      expect((await raw.next('saslOutcome')).performative!['code'], JSON.stringify(response)).toBe(1);
    }
  });
});

/** Parses `a=...,b=...` (SCRAM attributes). */
const attributes = (message: string): Map<string, string> =>
  new Map(
    message
      .split(',')
      .filter((p) => /^[a-z]=/.test(p))
      .map((p) => [p[0]!, p.slice(2)] as [string, string]),
  );

/** A scripted SCRAM-SHA-256 server: answers sasl-init with a proper server-first, then `afterResponse` runs on the client-final. */
async function scramServerPeer(
  firstReply: 'challenge' | 'ok-at-once',
  afterResponse?: (peer: ScriptedPeer, clientFinal: string, server: ScramServer) => void,
): Promise<ScriptedPeer> {
  const peer = await ScriptedPeer.listen();
  peers.push(peer);
  const credentials = scramCredentials('pw', 'SHA-256');
  const server = new ScramServer('SHA-256');
  peer.expectSaslHeader().respond(['SCRAM-SHA-256']);
  const init = peer.expectSaslInit({ mechanism: 'SCRAM-SHA-256' });
  if (firstReply === 'ok-at-once') {
    init.then(() => peer.writeFrameNow(compositeSpecs.saslOutcome, { code: 0 }, { frameType: SASL_FRAME_TYPE }));
    return peer;
  }
  init.then((f) => {
    const clientFirst = Buffer.from(f.performative!['initialResponse'] as Uint8Array).toString('utf8');
    server.start(clientFirst);
    peer.writeFrameNow(
      compositeSpecs.saslChallenge,
      { challenge: Buffer.from(server.firstMessage(credentials)) },
      { frameType: SASL_FRAME_TYPE },
    );
  });
  new Expectation(peer, 'saslResponse', {}).then((f) =>
    afterResponse?.(peer, Buffer.from(f.performative!['response'] as Uint8Array).toString('utf8'), server),
  );
  return peer;
}

describe('the client checks a SCRAM server', () => {
  it(
    'outcome ok with a bogus server signature (v=) is refused with an AuthenticationError saying the signature is wrong',
    { timeout: 10_000 },
    async () => {
      const peer = await scramServerPeer('challenge', (p, clientFinal, server) => {
        server.finish(clientFinal); // the client's proof is right: the server knows the password...
        // ...but signs with something else.
        p.writeFrameNow(
          compositeSpecs.saslOutcome,
          { code: 0, additionalData: Buffer.from(`v=${randomBytes(32).toString('base64')}`) },
          { frameType: SASL_FRAME_TYPE },
        );
      });
      const err = await refusal({ url: peer.url, username: 'alice', password: 'pw' });
      await peer.waitForScriptToComplete();
      expect(err).toBeInstanceOf(AuthenticationError);
      expect((err as Error).message).toMatch(/the server's signature is wrong/);
      // Nothing AMQP was sent after the false success.
      expect(peer.received.map((f) => f.kind)).toEqual(['header', 'saslInit', 'saslResponse']);
    },
  );

  it('outcome ok with no additional data and no server-final before it is refused', { timeout: 10_000 }, async () => {
    const peer = await scramServerPeer('challenge', (p) =>
      p.writeFrameNow(compositeSpecs.saslOutcome, { code: 0 }, { frameType: SASL_FRAME_TYPE }),
    );
    const err = await refusal({ url: peer.url, username: 'alice', password: 'pw' });
    await peer.waitForScriptToComplete();
    expect(err).toBeInstanceOf(AuthenticationError);
    expect((err as Error).message).toMatch(
      /the server reported success without proving it holds this user's SCRAM-SHA-256 keys/,
    );
    expect(peer.received.map((f) => f.kind)).toEqual(['header', 'saslInit', 'saslResponse']);
  });

  it('outcome ok straight after sasl-init (no challenge at all) is refused', { timeout: 10_000 }, async () => {
    const peer = await scramServerPeer('ok-at-once');
    const err = await refusal({ url: peer.url, username: 'alice', password: 'pw' });
    await peer.waitForScriptToComplete();
    expect(err).toBeInstanceOf(AuthenticationError);
    expect((err as Error).message).toMatch(/without proving/);
    expect(peer.received.map((f) => f.kind)).toEqual(['header', 'saslInit']);
  });

  it(
    'a server-first whose nonce does not extend the client nonce is refused before the proof is sent',
    { timeout: 10_000 },
    async () => {
      const peer = await ScriptedPeer.listen();
      peers.push(peer);
      peer.expectSaslHeader().respond(['SCRAM-SHA-256']);
      peer
        .expectSaslInit({ mechanism: 'SCRAM-SHA-256' })
        .then(() =>
          peer.writeFrameNow(
            compositeSpecs.saslChallenge,
            { challenge: Buffer.from(`r=somebodyelsesnonce,s=${randomBytes(16).toString('base64')},i=4096`) },
            { frameType: SASL_FRAME_TYPE },
          ),
        );
      const err = await refusal({ url: peer.url, username: 'alice', password: 'pw' });
      await peer.waitForScriptToComplete();
      expect(err).toBeInstanceOf(AuthenticationError);
      expect((err as Error).message).toMatch(/nonce does not extend ours/);
      expect(peer.frames('saslResponse')).toEqual([]);
    },
  );

  it(
    'a server that sends its server-final as a second challenge, then outcome ok without data, is trusted',
    { timeout: 10_000 },
    async () => {
      const peer = await scramServerPeer('challenge', (p, clientFinal, server) => {
        const serverFinal = server.finish(clientFinal);
        p.writeFrameNow(
          compositeSpecs.saslChallenge,
          { challenge: Buffer.from(serverFinal) },
          { frameType: SASL_FRAME_TYPE },
        );
      });
      new Expectation(peer, 'saslResponse', {
        response: (r: unknown) => r instanceof Uint8Array && r.length === 0,
      }).then(() => peer.writeFrameNow(compositeSpecs.saslOutcome, { code: 0 }, { frameType: SASL_FRAME_TYPE }));
      peer.expectAmqpHeader().respond();
      peer.expectOpen().respond();
      peer.expectClose().respond();
      const c = await connect({ url: peer.url, username: 'alice', password: 'pw', reconnect: false });
      expect(c.authentication).toEqual({ mechanism: 'SCRAM-SHA-256', username: 'alice' });
      await c.close();
      await peer.waitForScriptToComplete();
      const clientFirst = Buffer.from(peer.frames('saslInit')[0]!['initialResponse'] as Uint8Array).toString('utf8');
      expect(attributes(clientFirst.replace(/^n,,/, '')).get('n')).toBe('alice');
    },
  );
});

// ---- EXTERNAL: a CA, a server certificate, a client certificate (CN=alice-cert), and a client certificate from another CA ----

const pki: Record<string, Buffer> = {};
let pkiDir = '';
beforeAll(() => {
  pkiDir = mkdtempSync(join(tmpdir(), 'quark-login-'));
  const at = (name: string) => join(pkiDir, name);
  const run = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  for (const ca of ['ca', 'rogue-ca']) {
    run(
      'req',
      '-x509',
      ...ecKey,
      '-days',
      '2',
      '-subj',
      `/CN=Quark test ${ca}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
      '-keyout',
      at(`${ca}.key`),
      '-out',
      at(`${ca}.pem`),
    );
  }
  writeFileSync(at('server.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  writeFileSync(at('client.ext'), 'extendedKeyUsage=clientAuth\n');
  const issue = (name: string, cn: string, ca: string, ext: string) => {
    run('req', ...ecKey, '-subj', `/CN=${cn}`, '-keyout', at(`${name}.key`), '-out', at(`${name}.csr`));
    run(
      'x509',
      '-req',
      '-in',
      at(`${name}.csr`),
      '-CA',
      at(`${ca}.pem`),
      '-CAkey',
      at(`${ca}.key`),
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      at(ext),
      '-out',
      at(`${name}.pem`),
    );
  };
  issue('server', 'localhost', 'ca', 'server.ext');
  issue('client', 'alice-cert', 'ca', 'client.ext');
  issue('rogue', 'alice-cert', 'rogue-ca', 'client.ext');
  for (const name of ['ca', 'server', 'client', 'rogue']) {
    pki[`${name}.pem`] = readFileSync(at(`${name}.pem`));
    if (name !== 'ca') pki[`${name}.key`] = readFileSync(at(`${name}.key`));
  }
});
afterAll(() => {
  if (pkiDir) rmSync(pkiDir, { recursive: true, force: true });
});

const serverTls = (extra: object = {}) => ({
  cert: pki['server.pem']!,
  key: pki['server.key']!,
  ca: pki['ca.pem']!,
  requestCert: true,
  ...extra,
});
const clientTls = (who: 'client' | 'rogue' | 'none') => ({
  ca: pki['ca.pem']!,
  ...(who === 'none' ? {} : { cert: pki[`${who}.pem`]!, key: pki[`${who}.key`]! }),
});

describe('EXTERNAL with a verified TLS client certificate', () => {
  it('is offered (first) to a client whose certificate verified, and to no other', { timeout: 20_000 }, async () => {
    const { listener: l } = await start({
      tls: serverTls({ rejectUnauthorized: false }),
      failedLoginDelay: 0,
      sasl: { users },
    });
    const offeredTo = async (who: 'client' | 'rogue' | 'none') => {
      const raw = await RawSaslClient.connect(l.port, { tls: { ...clientTls(who), servername: 'localhost' } });
      raws.push(raw);
      return raw.mechanisms();
    };
    expect(await offeredTo('client')).toEqual(['EXTERNAL', 'SCRAM-SHA-512', 'SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN']);
    expect(await offeredTo('rogue')).toEqual(['SCRAM-SHA-512', 'SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN']);
    expect(await offeredTo('none')).toEqual(['SCRAM-SHA-512', 'SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN']);
    // And one that picks EXTERNAL anyway, without a verified certificate, is refused.
    const raw = await RawSaslClient.connect(l.port, { tls: { ...clientTls('rogue'), servername: 'localhost' } });
    raws.push(raw);
    await raw.mechanisms();
    raw.init('EXTERNAL', Buffer.alloc(0));
    expect((await raw.next('saslOutcome')).performative!['code']).toBe(1);
  });

  it(
    'a client with a certificate and no user name picks EXTERNAL; the server side records { EXTERNAL, CN }',
    { timeout: 20_000 },
    async () => {
      const { listener: l, server } = await start({ tls: serverTls() });
      const c = await client({ url: `amqps://localhost:${l.port}`, tls: clientTls('client') });
      expect(c.authentication).toEqual({ mechanism: 'EXTERNAL' });
      expect(c.tls?.authorized).toBe(true);
      await waitFor(() => server.length === 1, 'the server side connection');
      expect(server[0]!.authentication).toEqual({ mechanism: 'EXTERNAL', username: 'alice-cert' });
      expect(server[0]!.tls?.peerCertificate?.subject.CN).toBe('alice-cert');
    },
  );

  it('default policy: an authzid equal to the CN is accepted, another one refused', { timeout: 20_000 }, async () => {
    const { listener: l, server } = await start({ tls: serverTls(), failedLoginDelay: 0 });
    const own = await client({
      url: `amqps://localhost:${l.port}`,
      tls: clientTls('client'),
      sasl: { authzid: 'alice-cert' },
    });
    expect(own.authentication).toEqual({ mechanism: 'EXTERNAL' });
    await waitFor(() => server.length === 1, 'the server side connection');
    expect(server[0]!.authentication).toEqual({ mechanism: 'EXTERNAL', username: 'alice-cert', authzid: 'alice-cert' });
    const err = await refusal({
      url: `amqps://localhost:${l.port}`,
      tls: clientTls('client'),
      sasl: { authzid: 'admin' },
    });
    expect(err).toBeInstanceOf(AuthenticationError);
    expect(server).toHaveLength(1);
  });

  it(
    'authenticate() receives the verified peer certificate with the CN, authzid and hostname, and decides',
    { timeout: 20_000 },
    async () => {
      const seen: SaslCredentials[] = [];
      let allow = true;
      const { listener: l, server } = await start({
        tls: serverTls(),
        failedLoginDelay: 0,
        sasl: { authenticate: (c) => (seen.push(c), allow) },
      });
      const c = await client({ url: `amqps://localhost:${l.port}`, tls: clientTls('client') });
      expect(c.authentication).toEqual({ mechanism: 'EXTERNAL' });
      expect(seen).toHaveLength(1);
      const credentials = seen[0]!;
      expect(credentials).toMatchObject({
        mechanism: 'EXTERNAL',
        username: 'alice-cert',
        authzid: undefined,
        hostname: 'localhost',
      });
      expect(credentials.password).toBeUndefined();
      expect(credentials.peerCertificate?.subject.CN).toBe('alice-cert');
      expect(credentials.peerCertificate?.fingerprint256).toBe(new X509Certificate(pki['client.pem']!).fingerprint256);
      await waitFor(() => server.length === 1, 'the server side connection');
      expect(server[0]!.authentication).toEqual({ mechanism: 'EXTERNAL', username: 'alice-cert' });

      allow = false;
      const err = await refusal({
        url: `amqps://localhost:${l.port}`,
        tls: clientTls('client'),
        sasl: { authzid: 'someone' },
      });
      expect(err).toBeInstanceOf(AuthenticationError);
      expect(seen).toHaveLength(2);
      expect(seen[1]).toMatchObject({ mechanism: 'EXTERNAL', username: 'alice-cert', authzid: 'someone' });
      expect(server).toHaveLength(1);
    },
  );

  it(
    'a client whose certificate did not verify (another CA, rejectUnauthorized false) does not get EXTERNAL: it falls back to ANONYMOUS, or fails when it allows only EXTERNAL',
    { timeout: 20_000 },
    async () => {
      const { listener: l, server } = await start({
        tls: serverTls({ rejectUnauthorized: false }),
        failedLoginDelay: 0,
      });
      const c = await client({ url: `amqps://localhost:${l.port}`, tls: clientTls('rogue') });
      expect(c.authentication).toEqual({ mechanism: 'ANONYMOUS' });
      await waitFor(() => server.length === 1, 'the server side connection');
      expect(server[0]!.authentication).toEqual({ mechanism: 'ANONYMOUS' });
      const err = await refusal({
        url: `amqps://localhost:${l.port}`,
        tls: clientTls('rogue'),
        sasl: { mechanisms: ['EXTERNAL'] },
      });
      expect(err).toBeInstanceOf(AuthenticationError);
      expect((err as Error).message).toMatch(
        /offers SASL mechanisms \[ANONYMOUS\] but this client allows only \[EXTERNAL\]/,
      );
    },
  );
});
