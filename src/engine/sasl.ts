/**
 * SASL (spec, security section 5.3): the client's choice of mechanism and its initial response,
 * and the server's parsing of what the client sent. Credentials stay UTF-8 intact.
 */

/** What a client may authenticate with. */
export interface SaslClientOptions {
  /** The user name (for PLAIN). */
  username?: string | undefined;
  /** The password (for PLAIN). */
  password?: string | undefined;
  /** The authorization identity to act as (for PLAIN), when different from the user name. */
  authzid?: string | undefined;
  /**
   * Mechanisms we allow, in order of preference. Default: PLAIN when a user name is given,
   * then ANONYMOUS; EXTERNAL only when listed.
   */
  mechanisms?: string[] | undefined;
}

/** The mechanism a client chose and the initial response it sends. */
export interface SaslChoice {
  mechanism: string;
  initialResponse: Uint8Array | undefined;
}

/**
 * Picks the first of our allowed mechanisms that the server offers. Returns undefined, with the
 * reason, when there is none.
 */
export function chooseSaslMechanism(offered: readonly string[], options: SaslClientOptions): SaslChoice | string {
  const allowed = options.mechanisms ?? (options.username !== undefined ? ['PLAIN'] : ['ANONYMOUS']);
  for (const mechanism of allowed) {
    if (!offered.includes(mechanism)) continue;
    switch (mechanism) {
      case 'PLAIN':
        if (options.username === undefined) continue;
        return { mechanism, initialResponse: plainResponse(options.authzid ?? '', options.username, options.password ?? '') };
      case 'ANONYMOUS':
        return { mechanism, initialResponse: new Uint8Array(0) };
      case 'EXTERNAL':
        return { mechanism, initialResponse: new Uint8Array(0) };
    }
  }
  let hint = '';
  if (options.username === undefined && offered.includes('PLAIN')) hint = ' (give a user name and password to use PLAIN)';
  else if (offered.length === 0) hint = ' (it offers none: a server with users but no TLS may offer PLAIN only to its own machine; connect over amqps://, or set the server up for it)';
  else if (allowed.includes('PLAIN') && !offered.includes('PLAIN')) hint = ' (PLAIN is not offered: servers commonly offer it only over TLS, so try amqps://)';
  return `the server offers SASL mechanisms [${offered.join(', ')}] but this client allows only [${allowed.join(', ')}]${hint}`;
}

/** The PLAIN initial response: authzid NUL username NUL password, in UTF-8 (RFC 4616). */
export function plainResponse(authzid: string, username: string, password: string): Uint8Array {
  return Buffer.from(`${authzid}\u0000${username}\u0000${password}`, 'utf8');
}

/** The parts of a PLAIN response, or undefined when it is malformed. */
export function parsePlainResponse(response: Uint8Array | undefined): { authzid: string; username: string; password: string } | undefined {
  if (!response) return undefined;
  const text = Buffer.from(response.buffer, response.byteOffset, response.byteLength).toString('utf8');
  const parts = text.split('\u0000');
  if (parts.length !== 3 || parts[1] === '') return undefined;
  return { authzid: parts[0]!, username: parts[1]!, password: parts[2]! };
}
