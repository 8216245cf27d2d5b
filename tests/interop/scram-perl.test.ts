/**
 * Quark's SCRAM (ScramClient, ScramServer, scramCredentials, SaslUsers) against an independent
 * implementation: Debian's libauthen-scram-perl (Authen::SCRAM::Client / ::Server, which SASLprep
 * with Authen::SASL::SASLprep), driven by tests/support/scram-driver.pl.
 *
 * For SHA-1, SHA-256 and SHA-512, each side as client and as server, with the right and a wrong
 * password; then names that need escaping, passwords that SASLprep changes, non-ASCII text, an
 * authorization identity, and a server signature tampered with.
 *
 * Without perl or the module the suite FAILS (beforeAll throws), it never skips:
 * `apt-get install libauthen-scram-perl`.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  AuthenticationError,
  SaslUsers,
  ScramClient,
  ScramServer,
  scramCredentials,
  type ScramHash,
} from '../../src/index.js';
import { killPerlScramPeers, PerlScramPeer, requirePerlScram, type PerlLine } from '../support/scram-perl.js';

const HASHES: ScramHash[] = ['SHA-1', 'SHA-256', 'SHA-512'];

type Outcome = Exclude<PerlLine, { kind: 'MSG' }>;

interface PerlClientRun {
  clientFirst: string;
  start?: { username: string; authzid?: string | undefined };
  startError?: unknown;
  serverFirst?: string;
  clientFinal?: string;
  /** What Quark's ScramServer.finish returned, when it accepted the proof. */
  serverFinal?: string;
  finishError?: unknown;
  perl: Outcome;
}

/**
 * Authen::SCRAM::Client (user `perlUser`, `perlPassword`) against Quark's ScramServer, which knows
 * the user `quarkUser` with `quarkPassword` (through SaslUsers, as a listener keeps them). When
 * finish() refuses, Perl is sent what a server says then, "e=invalid-proof", never a signature.
 */
async function perlClientToQuark(
  hash: ScramHash,
  perlUser: string,
  perlPassword: string,
  quarkUser: string,
  quarkPassword: string,
  authzid?: string,
): Promise<PerlClientRun> {
  const perl = PerlScramPeer.client(hash, perlUser, perlPassword, authzid);
  const clientFirst = await perl.message('client-first-message');
  const server = new ScramServer(hash);
  let start: PerlClientRun['start'];
  try {
    start = server.start(clientFirst);
  } catch (error) {
    perl.kill();
    return {
      clientFirst,
      startError: error,
      perl: { kind: 'ERROR', text: '(not run: Quark refused the client-first message)' },
    };
  }
  const users = SaslUsers.fromPasswords({ [quarkUser]: quarkPassword });
  // An unknown name gets keys nobody knows, so the exchange runs to its refusal.
  const credentials = users.lookup(start.username)?.[hash] ?? scramCredentials(randomUUID(), hash);
  const serverFirst = server.firstMessage(credentials);
  perl.send(serverFirst);
  const clientFinal = await perl.message('client-final-message');
  let serverFinal: string | undefined;
  let finishError: unknown;
  try {
    serverFinal = server.finish(clientFinal);
  } catch (error) {
    finishError = error;
  }
  perl.send(serverFinal ?? 'e=invalid-proof');
  const { line } = await perl.outcome();
  return { clientFirst, start, serverFirst, clientFinal, serverFinal, finishError, perl: line };
}

interface QuarkClientRun {
  client: ScramClient;
  clientFirst: string;
  serverFirst?: string;
  clientFinal?: string;
  /** The server-final message as Perl sent it (before any tampering). */
  serverFinal?: string;
  /** What Quark's verifyServerFinal threw for the (maybe tampered) server-final message. */
  verifyError?: unknown;
  perl: Outcome;
}

/**
 * Quark's ScramClient (user `quarkUser`, `quarkPassword`, `authzid`) against Authen::SCRAM::Server,
 * which knows the user `perlUser` with `perlPassword`. `tamper` may change the server-final
 * message before Quark checks it.
 */
async function quarkClientToPerl(
  hash: ScramHash,
  quarkUser: string,
  quarkPassword: string,
  perlUser: string,
  perlPassword: string,
  options: { authzid?: string; tamper?: (serverFinal: string) => string } = {},
): Promise<QuarkClientRun> {
  const perl = PerlScramPeer.server(hash, perlUser, perlPassword);
  const client = new ScramClient(hash, quarkUser, quarkPassword, { authzid: options.authzid });
  const clientFirst = client.firstMessage();
  perl.send(clientFirst);
  const first = await perl.next();
  if (first.kind !== 'MSG') return { client, clientFirst, perl: first };
  const serverFirst = first.message;
  const clientFinal = client.finalMessage(serverFirst);
  perl.send(clientFinal);
  const final = await perl.next();
  if (final.kind !== 'MSG') return { client, clientFirst, serverFirst, clientFinal, perl: final };
  const serverFinal = final.message;
  let verifyError: unknown;
  try {
    client.verifyServerFinal(options.tamper ? options.tamper(serverFinal) : serverFinal);
  } catch (error) {
    verifyError = error;
  }
  const { line } = await perl.outcome();
  return { client, clientFirst, serverFirst, clientFinal, serverFinal, verifyError, perl: line };
}

/** Flips the low bit of the first byte of the signature in "v=...". */
function flipSignatureByte(serverFinal: string): string {
  expect(serverFinal).toMatch(/^v=[A-Za-z0-9+/]+={0,2}$/);
  const signature = Buffer.from(serverFinal.slice(2), 'base64');
  signature[0]! ^= 0x01;
  return `v=${signature.toString('base64')}`;
}

function ok(authorizationId = '', username = ''): Outcome {
  return { kind: 'OK', authorizationId, username };
}

beforeAll(() => {
  requirePerlScram();
});

afterEach(() => {
  killPerlScramPeers();
});

describe.each(HASHES)('SCRAM-%s against Authen::SCRAM (Perl)', (hash) => {
  it("Perl client, Quark server, right password: Quark accepts the proof and Perl accepts Quark's signature", async () => {
    const r = await perlClientToQuark(hash, 'alice', 'tr0ub4dor&3', 'alice', 'tr0ub4dor&3');
    expect(r.startError).toBeUndefined();
    expect(r.clientFirst).toMatch(/^n,,n=alice,r=[!-+--~]+$/);
    expect(r.start).toEqual({ username: 'alice' });
    expect(r.serverFirst).toMatch(/^r=[!-+--~]+,s=[A-Za-z0-9+/]+={0,2},i=4096$/);
    expect(r.finishError).toBeUndefined();
    expect(r.serverFinal).toMatch(/^v=[A-Za-z0-9+/]+={0,2}$/);
    expect(r.perl).toEqual(ok());
  });

  it('Perl client, Quark server, wrong password: finish() throws AuthenticationError and Perl gets no signature', async () => {
    const r = await perlClientToQuark(hash, 'alice', 'wrong password', 'alice', 'tr0ub4dor&3');
    expect(r.start).toEqual({ username: 'alice' });
    expect(r.finishError).toBeInstanceOf(AuthenticationError);
    expect(r.serverFinal).toBeUndefined();
    // Perl saw only the refusal, never a "v=" it could validate
    expect(r.perl).toEqual({
      kind: 'ERROR',
      text: expect.stringContaining("server-final-message was error 'invalid-proof'"),
    });
  });

  it("Quark client, Perl server, right password: Perl accepts the proof and Quark verifies Perl's signature", async () => {
    const r = await quarkClientToPerl(hash, 'alice', 'tr0ub4dor&3', 'alice', 'tr0ub4dor&3');
    expect(r.clientFirst).toMatch(/^n,,n=alice,r=[!-+--~]+$/);
    expect(r.clientFinal).toMatch(/^c=biws,r=[!-+--~]+,p=[A-Za-z0-9+/]+={0,2}$/);
    expect(r.serverFinal).toMatch(/^v=/);
    expect(r.verifyError).toBeUndefined();
    expect(r.perl).toEqual(ok('alice', 'alice'));
  });

  it('Quark client, Perl server, wrong password: Perl refuses the proof', async () => {
    const r = await quarkClientToPerl(hash, 'alice', 'wrong password', 'alice', 'tr0ub4dor&3');
    expect(r.clientFinal).toMatch(/^c=biws,r=/);
    expect(r.serverFinal).toBeUndefined();
    expect(r.perl).toEqual({
      kind: 'ERROR',
      text: expect.stringContaining("SCRAM authentication for user 'alice' failed"),
    });
  });

  it('Quark client: a server-final message with one byte of v= flipped throws AuthenticationError', async () => {
    const r = await quarkClientToPerl(hash, 'alice', 'tr0ub4dor&3', 'alice', 'tr0ub4dor&3', {
      tamper: flipSignatureByte,
    });
    expect(r.perl).toEqual(ok('alice', 'alice')); // Perl accepted the proof and signed
    expect(r.verifyError).toBeInstanceOf(AuthenticationError);
    // the same client accepts the signature as Perl sent it: only the flipped byte was refused
    expect(() => r.client.verifyServerFinal(r.serverFinal!)).not.toThrow();
  });
});

describe('SCRAM names, SASLprep and authzid against Authen::SCRAM (Perl)', () => {
  const hash: ScramHash = 'SHA-256';

  // The driver makes Authen::SCRAM write "=2C"/"=3D" as RFC 5802 does (it writes "=2c"/"=3d" on its own).
  it('a user name with "=" and ",": Perl client to Quark server', async () => {
    const r = await perlClientToQuark(hash, 'a=b,c', 'pw-escape', 'a=b,c', 'pw-escape');
    expect(r.clientFirst).toMatch(/^n,,n=a=3Db=2Cc,r=/);
    expect(r.startError).toBeUndefined();
    expect(r.start).toEqual({ username: 'a=b,c' });
    expect(r.finishError).toBeUndefined();
    expect(r.perl).toEqual(ok());
  });

  it('a user name with "=" and ",": Quark client to Perl server', async () => {
    const r = await quarkClientToPerl(hash, 'a=b,c', 'pw-escape', 'a=b,c', 'pw-escape');
    expect(r.clientFirst).toMatch(/^n,,n=a=3Db=2Cc,r=/);
    expect(r.verifyError).toBeUndefined();
    expect(r.perl).toEqual(ok('a=b,c', 'a=b,c'));
  });

  it('a non-ASCII user name and password arrive intact both ways (UTF-8)', async () => {
    const user = 'j\u00F6rg-\u6771\u4EAC';
    const password = 'p\u00E4ssw\u00F6rd-\u00DF\u20AC';
    const toQuark = await perlClientToQuark(hash, user, password, user, password);
    expect(toQuark.start).toEqual({ username: user });
    expect(toQuark.finishError).toBeUndefined();
    expect(toQuark.perl).toEqual(ok());
    const toPerl = await quarkClientToPerl(hash, user, password, user, password);
    expect(toPerl.verifyError).toBeUndefined();
    expect(toPerl.perl).toEqual(ok(user, user));
  });

  // RFC 4013: B.1 "mapped to nothing", C.1.2 non-ASCII spaces to SPACE, then NFKC.
  const saslprepCases: Array<[string, string, string]> = [
    ['SOFT HYPHEN is mapped to nothing (RFC 4013 / RFC 3454 B.1): I\\u00ADX = IX', 'I\u00ADX', 'IX'],
    ['ROMAN NUMERAL NINE is NFKC-normalised: \\u2168 = IX', '\u2168', 'IX'],
    ['NO-BREAK SPACE is mapped to SPACE (C.1.2): a\\u00A0b = a b', 'a\u00A0b', 'a b'],
    ['IDEOGRAPHIC SPACE and a ligature: \\u3000\\uFB01 = " fi"', '\u3000\uFB01', ' fi'],
  ];

  describe.each(saslprepCases)('%s', (_label, raw, prepared) => {
    it('Perl client with the raw password, Quark server holding the prepared one', async () => {
      const r = await perlClientToQuark(hash, 'sasl', raw, 'sasl', prepared);
      expect(r.finishError).toBeUndefined();
      expect(r.perl).toEqual(ok());
    });

    it('Perl client with the prepared password, Quark server holding the raw one', async () => {
      const r = await perlClientToQuark(hash, 'sasl', prepared, 'sasl', raw);
      expect(r.finishError).toBeUndefined();
      expect(r.perl).toEqual(ok());
    });

    it('Quark client with the raw password, Perl server holding the prepared one', async () => {
      const r = await quarkClientToPerl(hash, 'sasl', raw, 'sasl', prepared);
      expect(r.verifyError).toBeUndefined();
      expect(r.perl).toEqual(ok('sasl', 'sasl'));
    });

    it('Quark client with the prepared password, Perl server holding the raw one', async () => {
      const r = await quarkClientToPerl(hash, 'sasl', prepared, 'sasl', raw);
      expect(r.verifyError).toBeUndefined();
      expect(r.perl).toEqual(ok('sasl', 'sasl'));
    });
  });

  it('an authzid: Perl client to Quark server', async () => {
    const r = await perlClientToQuark(hash, 'alice', 'pw-authz', 'alice', 'pw-authz', 'admin');
    expect(r.clientFirst).toMatch(/^n,a=admin,n=alice,r=/);
    expect(r.start).toEqual({ username: 'alice', authzid: 'admin' });
    expect(r.clientFinal).toMatch(new RegExp(`^c=${Buffer.from('n,a=admin,').toString('base64')},r=`));
    expect(r.finishError).toBeUndefined();
    expect(r.perl).toEqual(ok());
  });

  it('an authzid: Quark client to Perl server', async () => {
    const r = await quarkClientToPerl(hash, 'alice', 'pw-authz', 'alice', 'pw-authz', { authzid: 'admin' });
    expect(r.clientFirst).toMatch(/^n,a=admin,n=alice,r=/);
    expect(r.verifyError).toBeUndefined();
    expect(r.perl).toEqual(ok('admin', 'alice'));
  });

  it('an authzid with "," and "=": Perl client to Quark server', async () => {
    const r = await perlClientToQuark(hash, 'alice', 'pw-authz', 'alice', 'pw-authz', 'ops,team=1');
    expect(r.clientFirst).toMatch(/^n,a=ops=2Cteam=3D1,n=alice,r=/);
    expect(r.startError).toBeUndefined();
    expect(r.start).toEqual({ username: 'alice', authzid: 'ops,team=1' });
    expect(r.finishError).toBeUndefined();
    expect(r.perl).toEqual(ok());
  });

  it('an authzid with "," and "=": Quark client to Perl server', async () => {
    const r = await quarkClientToPerl(hash, 'alice', 'pw-authz', 'alice', 'pw-authz', { authzid: 'ops,team=1' });
    expect(r.clientFirst).toMatch(/^n,a=ops=2Cteam=3D1,n=alice,r=/);
    expect(r.verifyError).toBeUndefined();
    expect(r.perl).toEqual(ok('ops,team=1', 'alice'));
  });
});
