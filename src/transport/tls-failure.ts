/**
 * Names the reason of a failed TLS handshake from the TLS layer's error code, with what to do
 * about it: Node reports OpenSSL verification codes (`CERT_HAS_EXPIRED`) and alerts from the
 * peer (`ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED`).
 */
import { TlsError, type TlsFailureReason } from '../errors.js';

const REASONS: Record<string, TlsFailureReason> = {
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'unknown-ca',
  UNABLE_TO_GET_ISSUER_CERT: 'unknown-ca',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'unknown-ca',
  CERT_SIGNATURE_FAILURE: 'unknown-ca',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'self-signed',
  SELF_SIGNED_CERT_IN_CHAIN: 'unknown-ca', // the chain ends in a CA we do not trust (servers send their CA along)
  ERR_TLS_CERT_ALTNAME_INVALID: 'hostname-mismatch',
  HOSTNAME_MISMATCH: 'hostname-mismatch',
  CERT_HAS_EXPIRED: 'expired',
  CERT_NOT_YET_VALID: 'not-yet-valid',
  CERT_REVOKED: 'revoked',
  ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED: 'certificate-required',
  ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE: 'handshake',
  ERR_SSL_TLSV1_ALERT_UNKNOWN_CA: 'certificate-required',
  ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE: 'certificate-required',
  ERR_SSL_TLSV1_ALERT_DECRYPT_ERROR: 'certificate-required',
};

const ADVICE: Record<TlsFailureReason, string> = {
  'unknown-ca': "its certificate is not signed by a CA this client trusts. Give that CA's certificate in tls.ca",
  'self-signed': 'its certificate is self-signed and not trusted. Give that certificate (or its CA) in tls.ca',
  'hostname-mismatch':
    'its certificate does not name the host connected to. Connect by a name the certificate holds, or set tls.servername to one',
  expired: 'its certificate has expired. The server needs a new certificate',
  'not-yet-valid': "its certificate is not valid yet. Check this machine's clock, or the certificate's dates",
  revoked: 'its certificate was revoked. The server needs a new certificate',
  'certificate-required':
    'the server refused the client certificate, or wanted one and got none. Give a certificate its CA trusts in tls.cert and tls.key',
  handshake:
    'the TLS handshake failed. Check that the port serves TLS and that both sides share a TLS version and cipher',
};

/** Whether a socket error comes from TLS (its code says so); others are plain network errors. */
export function isTlsFailure(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return (
    code !== undefined &&
    (code in REASONS || code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_') || /CERT/.test(code))
  );
}

/** The typed error of a failed handshake with `where` (host:port). */
export function tlsFailure(error: Error, where: string): TlsError {
  const code = (error as NodeJS.ErrnoException).code;
  const reason = (code !== undefined ? REASONS[code] : undefined) ?? 'handshake';
  return new TlsError(reason, code, `TLS with ${where} failed: ${ADVICE[reason]} (${error.message}).`, error);
}
