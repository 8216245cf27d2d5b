/**
 * A fresh self-signed certificate for localhost and 127.0.0.1, made with openssl for tests of TLS
 * (Proton's shipped test certificates have expired). Valid for two days.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface SelfSignedCertificate {
  cert: Buffer;
  key: Buffer;
  /** The PEM files, for programs that take paths. */
  certPath: string;
  keyPath: string;
}

export function selfSignedLocalhost(): SelfSignedCertificate {
  const dir = mkdtempSync(join(tmpdir(), 'quark-tls-'));
  const certPath = join(dir, 'cert.pem');
  const keyPath = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout',
      keyPath,
      '-out',
      certPath,
    ],
    { stdio: 'ignore' },
  );
  return { cert: readFileSync(certPath), key: readFileSync(keyPath), certPath, keyPath };
}
