/**
 * The SCRAM test vectors of RFC 5802 section 5 (SCRAM-SHA-1) and RFC 7677 section 3
 * (SCRAM-SHA-256): user "user", password "pencil", the RFCs' client and server nonces, salt and
 * iteration count. Quark's ScramClient and ScramServer, given the RFCs' nonces, must write these
 * messages to the character; scramCredentials must derive the keys behind them.
 *
 * The stored and server keys below are not printed in the RFCs: they were derived with Node's
 * crypto and with Perl's Authen::SCRAM (which agree), and they are the keys that produce the RFCs'
 * ClientProof and ServerSignature.
 */
import { describe, expect, it } from 'vitest';
import { AuthenticationError, ScramClient, ScramServer, scramCredentials, type ScramHash } from '../../src/index.js';

interface Vector {
  rfc: string;
  hash: ScramHash;
  clientNonce: string;
  serverNonce: string;
  salt: string;
  iterations: number;
  clientFirst: string;
  serverFirst: string;
  clientFinal: string;
  serverFinal: string;
  storedKey: string;
  serverKey: string;
}

const VECTORS: Vector[] = [
  {
    rfc: 'RFC 5802 section 5',
    hash: 'SHA-1',
    clientNonce: 'fyko+d2lbbFgONRv9qkxdawL',
    serverNonce: '3rfcNHYJY1ZVvWVs7j',
    salt: 'QSXCR+Q6sek8bf92',
    iterations: 4096,
    clientFirst: 'n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL',
    serverFirst: 'r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096',
    clientFinal: 'c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=',
    serverFinal: 'v=rmF9pqV8S7suAoZWja4dJRkFsKQ=',
    storedKey: 'e9d94660c39d65c38fbad91c358f14da0eef2bd6',
    serverKey: '0fe09258b3ac852ba502cc62ba903eaacdbf7d31',
  },
  {
    rfc: 'RFC 7677 section 3',
    hash: 'SHA-256',
    clientNonce: 'rOprNGfwEbeRWgbNEkqO',
    serverNonce: '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0',
    salt: 'W22ZaJ0SNY7soEsUEjb6gQ==',
    iterations: 4096,
    clientFirst: 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO',
    serverFirst: 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
    clientFinal:
      'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
    serverFinal: 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
    storedKey: '586e5df283e6dceb5c3e791d8b8528ec191e664045ce971792e2e6b5bb13e2a6',
    serverKey: 'c1f3cbc1c13a9d35a14c0990eed97629ea225863e566a4314ab99f3f00e5d9d5',
  },
];

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

function credentialsOf(v: Vector) {
  return scramCredentials('pencil', v.hash, { salt: Buffer.from(v.salt, 'base64'), iterations: v.iterations });
}

describe.each(VECTORS)('SCRAM-$hash test vector ($rfc)', (v) => {
  it('scramCredentials derives the stored key and server key from "pencil", the salt and 4096 iterations', () => {
    const credentials = credentialsOf(v);
    expect(credentials.hash).toBe(v.hash);
    expect(credentials.iterations).toBe(v.iterations);
    expect(Buffer.from(credentials.salt).toString('base64')).toBe(v.salt);
    expect(hex(credentials.storedKey)).toBe(v.storedKey);
    expect(hex(credentials.serverKey)).toBe(v.serverKey);
  });

  it('ScramClient with the RFC client nonce writes the exact client-first and client-final messages and verifies the server-final', () => {
    const client = new ScramClient(v.hash, 'user', 'pencil', { nonce: v.clientNonce });
    expect(client.firstMessage()).toBe(v.clientFirst);
    expect(client.finalMessage(v.serverFirst)).toBe(v.clientFinal);
    expect(() => client.verifyServerFinal(v.serverFinal)).not.toThrow();
  });

  it('ScramServer with the RFC server nonce writes the exact server-first and server-final messages', () => {
    const server = new ScramServer(v.hash, { nonce: v.serverNonce });
    expect(server.start(v.clientFirst)).toEqual({ username: 'user' });
    expect(server.firstMessage(credentialsOf(v))).toBe(v.serverFirst);
    expect(server.finish(v.clientFinal)).toBe(v.serverFinal);
  });

  it('ScramServer refuses the RFC exchange with one byte of the proof changed (AuthenticationError)', () => {
    const server = new ScramServer(v.hash, { nonce: v.serverNonce });
    server.start(v.clientFirst);
    server.firstMessage(credentialsOf(v));
    const at = v.clientFinal.indexOf(',p=') + 3;
    const proof = Buffer.from(v.clientFinal.slice(at), 'base64');
    proof[0]! ^= 0x01;
    expect(() => server.finish(v.clientFinal.slice(0, at) + proof.toString('base64'))).toThrow(AuthenticationError);
  });

  it('ScramServer refuses the RFC proof when it holds the keys of another password (AuthenticationError)', () => {
    const server = new ScramServer(v.hash, { nonce: v.serverNonce });
    server.start(v.clientFirst);
    expect(
      server.firstMessage(
        scramCredentials('pencil2', v.hash, { salt: Buffer.from(v.salt, 'base64'), iterations: v.iterations }),
      ),
    ).toBe(v.serverFirst);
    expect(() => server.finish(v.clientFinal)).toThrow(AuthenticationError);
  });

  it('ScramClient refuses a server-final with one byte of v= changed, or an e= error (AuthenticationError)', () => {
    const signature = Buffer.from(v.serverFinal.slice(2), 'base64');
    signature[signature.length - 1]! ^= 0x80;
    const tampered = `v=${signature.toString('base64')}`;
    const client = new ScramClient(v.hash, 'user', 'pencil', { nonce: v.clientNonce });
    client.firstMessage();
    client.finalMessage(v.serverFirst);
    expect(() => client.verifyServerFinal(tampered)).toThrow(AuthenticationError);
    expect(() => client.verifyServerFinal('e=invalid-proof')).toThrow(AuthenticationError);
    expect(() => client.verifyServerFinal(v.serverFinal)).not.toThrow();
  });
});
