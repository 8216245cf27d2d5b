/** The failover list and the backoff: which peers a connection tries, with what, and when. */
import { describe, expect, it } from 'vitest';
import { connectTargets } from '../../src/client/connect-targets.js';
import { reconnectDelay, reconnectPolicy } from '../../src/client/reconnect-policy.js';

describe('connect targets', () => {
  it('urls keep their order, and each URL its own scheme, credentials and TLS; username/password are the defaults', () => {
    const targets = connectTargets({
      urls: ['amqp://a:1', 'amqps://bob:pw@b:2', 'c'],
      allowInsecurePlain: true,
      username: 'dflt',
      password: 'dp',
      tls: { rejectUnauthorized: false },
    });
    expect(targets.map((t) => [t.url, t.host, t.port, t.username, t.password, t.tls !== undefined])).toEqual([
      ['amqp://dflt@a:1', 'a', 1, 'dflt', 'dp', false],
      ['amqps://bob@b:2', 'b', 2, 'bob', 'pw', true],
      ['amqp://dflt@c:5672', 'c', 5672, 'dflt', 'dp', false],
    ]);
    expect(targets[1]!.tls).toEqual({ rejectUnauthorized: false });
  });

  it('one url: the options override it, as before (tls, credentials, host, port)', () => {
    const [t] = connectTargets({ url: 'amqp://u:p@h:1', username: 'v', tls: true, port: 9 });
    expect(t).toMatchObject({ url: 'amqps://v@h:9', username: 'v', password: 'p', port: 9 });
  });

  it('no password appears in a target URL, and IPv6 hosts are bracketed', () => {
    const [t] = connectTargets({ url: 'amqp://user:secret@[::1]:5672' });
    expect(t!.url).toBe('amqp://user@[::1]:5672');
    expect(JSON.stringify(t!.url)).not.toContain('secret');
  });

  it('refuses url with urls, host or port with urls, an empty list, and a clear-text password with allowInsecurePlain: false', () => {
    expect(() => connectTargets({ url: 'a', urls: ['b'] })).toThrow(/either url/);
    expect(() => connectTargets({ urls: ['a'], host: 'b' })).toThrow(/host and port cannot be combined with urls/);
    expect(() => connectTargets({ urls: [] })).toThrow(/non-empty array/);
    expect(() =>
      connectTargets({ url: 'amqp://u:p@127.0.0.1', allowInsecurePlain: false, sasl: { mechanisms: ['PLAIN'] } }),
    ).toThrow(/clear text to 127.0.0.1 \(allowInsecurePlain: false\)/);
    // With SCRAM allowed (the default with a user name) the password never crosses the wire: only PLAIN is held back.
    expect(connectTargets({ url: 'amqp://u:p@127.0.0.1', allowInsecurePlain: false })[0]!.plainRefused).toMatch(
      /Refusing to send a password in clear text to 127.0.0.1 \(allowInsecurePlain: false\) and the server offers no SCRAM mechanism/,
    );
  });

  it('marks the targets whose password would go in clear text, to be checked against the address they resolve to', () => {
    const [plain, tls, allowed, anonymous] = connectTargets({
      urls: ['amqp://u:p@h', 'amqps://u:p@h', 'amqp://h'],
      username: undefined,
    }).concat(connectTargets({ url: 'amqp://u:p@h', allowInsecurePlain: true }));
    expect([plain!.passwordInClear, tls!.passwordInClear, allowed!.passwordInClear]).toEqual([true, false, false]);
    void anonymous;
  });
});

describe('reconnect policy', () => {
  it("defaults follow Proton's: at once, then 100 ms doubling to 10 s, forever", () => {
    const p = reconnectPolicy(true)!;
    const noJitter = { ...p, jitter: 0 };
    expect([1, 2, 3, 4, 5, 10, 20].map((n) => reconnectDelay(noJitter, n))).toEqual([
      0, 100, 200, 400, 800, 10_000, 10_000,
    ]);
    expect(p.maxAttempts).toBe(Infinity);
    expect(reconnectPolicy(undefined)).toEqual(p);
    expect(reconnectPolicy(false)).toBeUndefined();
  });

  it('jitter varies a delay within its fraction, never past maxDelay', () => {
    const p = reconnectPolicy({ jitter: 0.5, initialDelay: 1000, maxDelay: 1200 })!;
    expect(reconnectDelay(p, 2, () => 0)).toBe(500);
    expect(reconnectDelay(p, 2, () => 1)).toBe(1200); // 1500, capped
    expect(reconnectDelay(p, 2, () => 0.5)).toBe(1000);
  });

  it('refuses unknown fields and bad values, naming them', () => {
    expect(() => reconnectPolicy({ delay: 1 } as never)).toThrow(/reconnect.delay is not a reconnect option/);
    expect(() => reconnectPolicy({ multiplier: 0.5 })).toThrow(/multiplier must be a number of at least 1/);
    expect(() => reconnectPolicy({ maxAttempts: 0 })).toThrow(/maxAttempts must be a number of at least 1/);
    expect(() => reconnectPolicy({ maxAttempts: 1.5 })).toThrow(/whole number/);
    expect(() => reconnectPolicy({ attemptTimeout: Infinity })).toThrow(/finite/);
    expect(() => reconnectPolicy({ retryFirstConnect: 'yes' } as never)).toThrow(/true or false/);
    expect(() => reconnectPolicy('on' as never)).toThrow(/true, false or an object/);
  });
});
