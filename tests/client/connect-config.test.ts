/**
 * Qpid Proton's connection configuration file (connect.json): where findConnectConfig looks for
 * it, what readConnectConfig makes of every key and default, and the error each bad input gets
 * (always naming the file and the key). Everything runs in temp folders: the real ~/.config and
 * /etc are never read or written.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findConnectConfig, readConnectConfig } from '../../src/client/connect-config.js';
import { InvalidArgumentError } from '../../src/index.js';
import { selfSignedLocalhost } from '../support/self-signed-certificate.js';

let root: string;
let counter = 0;
/** A fresh folder under the suite's temp folder. */
function folder(name = 'd'): string {
  const dir = join(root, `${name}-${++counter}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}
/** Writes `text` (an object is JSON-encoded) to a new connect.json and returns its path. */
function configFile(content: string | object, dir = folder()): string {
  const file = join(dir, 'connect.json');
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

/** A folder with PEM files: ca.pem (self-signed), cert.pem + key.pem, both.pem (cert then key), enc-key.pem. */
let pki: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'quark-connect-config-'));
  pki = folder('pki');
  const { cert, key } = selfSignedLocalhost();
  writeFileSync(join(pki, 'cert.pem'), cert);
  writeFileSync(join(pki, 'key.pem'), key);
  writeFileSync(join(pki, 'ca.pem'), readFileSync(join(pki, 'cert.pem')));
  writeFileSync(
    join(pki, 'both.pem'),
    Buffer.concat([readFileSync(join(pki, 'cert.pem')), readFileSync(join(pki, 'key.pem'))]),
  );
  execFileSync(
    'openssl',
    ['pkey', '-in', join(pki, 'key.pem'), '-aes256', '-passout', 'pass:secret', '-out', join(pki, 'enc-key.pem')],
    { stdio: 'ignore' },
  );
  writeFileSync(join(pki, 'not-pem.txt'), 'hello\n');
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('findConnectConfig: the search order', () => {
  /** A cwd, a home and an etc, each with a connect.json where asked. */
  function places(has: { cwd?: boolean; home?: boolean; etc?: boolean }) {
    const cwd = folder('cwd');
    const home = folder('home');
    const etc = folder('etc');
    const files = {
      cwd: join(cwd, 'connect.json'),
      home: join(home, '.config', 'messaging', 'connect.json'),
      etc: join(etc, 'messaging', 'connect.json'),
    };
    if (has.cwd) configFile({}, cwd);
    if (has.home)
      configFile(
        {},
        (mkdirSync(join(home, '.config', 'messaging'), { recursive: true }), join(home, '.config', 'messaging')),
      );
    if (has.etc) configFile({}, (mkdirSync(join(etc, 'messaging'), { recursive: true }), join(etc, 'messaging')));
    return { cwd, home, etc, files };
  }

  it('$MESSAGING_CONNECT_FILE wins over every other place', () => {
    const p = places({ cwd: true, home: true, etc: true });
    const named = configFile({ host: 'named' });
    expect(findConnectConfig({ MESSAGING_CONNECT_FILE: named }, p.cwd, p.home, p.etc)).toBe(named);
  });

  it('a relative $MESSAGING_CONNECT_FILE is relative to the working folder', () => {
    const p = places({});
    mkdirSync(join(p.cwd, 'conf'));
    configFile({}, join(p.cwd, 'conf'));
    expect(findConnectConfig({ MESSAGING_CONNECT_FILE: 'conf/connect.json' }, p.cwd, p.home, p.etc)).toBe(
      join(p.cwd, 'conf', 'connect.json'),
    );
  });

  it('then ./connect.json in the working folder', () => {
    const p = places({ cwd: true, home: true, etc: true });
    expect(findConnectConfig({}, p.cwd, p.home, p.etc)).toBe(p.files.cwd);
  });

  it('then ~/.config/messaging/connect.json', () => {
    const p = places({ home: true, etc: true });
    expect(findConnectConfig({}, p.cwd, p.home, p.etc)).toBe(p.files.home);
  });

  it('then /etc/messaging/connect.json', () => {
    const p = places({ etc: true });
    expect(findConnectConfig({}, p.cwd, p.home, p.etc)).toBe(p.files.etc);
  });

  it('finds nothing when no place has the file', () => {
    const p = places({});
    expect(findConnectConfig({}, p.cwd, p.home, p.etc)).toBeUndefined();
  });

  it('takes an empty $MESSAGING_CONNECT_FILE as unset, as Proton Python does', () => {
    const p = places({ home: true });
    expect(findConnectConfig({ MESSAGING_CONNECT_FILE: '' }, p.cwd, p.home, p.etc)).toBe(p.files.home);
  });

  it('skips a folder named connect.json, and a missing home folder', () => {
    const p = places({ etc: true });
    mkdirSync(join(p.cwd, 'connect.json'));
    expect(findConnectConfig({}, p.cwd, '', p.etc)).toBe(p.files.etc);
  });

  it('refuses a $MESSAGING_CONNECT_FILE that names no file, naming the variable and the path', () => {
    const p = places({ cwd: true });
    const missing = join(p.cwd, 'nope.json');
    expect(() => findConnectConfig({ MESSAGING_CONNECT_FILE: missing }, p.cwd, p.home, p.etc)).toThrow(
      InvalidArgumentError,
    );
    expect(() => findConnectConfig({ MESSAGING_CONNECT_FILE: missing }, p.cwd, p.home, p.etc)).toThrow(
      new RegExp(
        `MESSAGING_CONNECT_FILE is set to ".*nope\\.json", but there is no file at ${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}. .*unset it`,
      ),
    );
  });

  it('defaults to process.env, process.cwd() and os.homedir()', () => {
    // With an explicit file in the environment the defaults for the other places do not matter.
    const named = configFile({});
    const saved = process.env.MESSAGING_CONNECT_FILE;
    process.env.MESSAGING_CONNECT_FILE = named;
    try {
      expect(findConnectConfig()).toBe(named);
    } finally {
      if (saved === undefined) delete process.env.MESSAGING_CONNECT_FILE;
      else process.env.MESSAGING_CONNECT_FILE = saved;
    }
  });
});

describe('readConnectConfig: keys and defaults', () => {
  it("an empty object gives Proton's defaults: amqps://localhost:5671, SASL on, TLS verifying", () => {
    const file = configFile({});
    expect(readConnectConfig(file)).toEqual({
      host: 'localhost',
      port: 5671,
      tls: { rejectUnauthorized: true },
      source: file,
    });
  });

  it('reads every key of an amqp configuration', () => {
    const file = configFile({
      scheme: 'amqp',
      host: 'broker.example.com',
      port: 5673,
      user: 'alice',
      password: 'sëcret',
      sasl: { enabled: true, mechanisms: ['PLAIN', 'ANONYMOUS'], allow_insecure: true },
    });
    expect(readConnectConfig(file)).toEqual({
      host: 'broker.example.com',
      port: 5673,
      tls: false,
      username: 'alice',
      password: 'sëcret',
      sasl: { mechanisms: ['PLAIN', 'ANONYMOUS'] },
      allowInsecurePlain: true,
      source: file,
    });
  });

  it("the port defaults to the scheme's: 5672 for amqp", () => {
    expect(readConnectConfig(configFile({ scheme: 'amqp' }))).toMatchObject({
      host: 'localhost',
      port: 5672,
      tls: false,
    });
    expect(readConnectConfig(configFile({ scheme: 'amqps' }))).toMatchObject({
      port: 5671,
      tls: { rejectUnauthorized: true },
    });
  });

  it.each([
    ['amqp', 5672],
    ['amqps', 5671],
    ['5673', 5673],
    ['1', 1],
    ['65535', 65535],
    [65535, 65535],
  ])('port %j is %d', (port, expected) => {
    expect(readConnectConfig(configFile({ port })).port).toBe(expected);
  });

  it('sasl.mechanisms may be a space-separated string', () => {
    expect(readConnectConfig(configFile({ sasl: { mechanisms: ' PLAIN  EXTERNAL ' } })).sasl).toEqual({
      mechanisms: ['PLAIN', 'EXTERNAL'],
    });
  });

  it("sasl.enabled false turns SASL off; so does C++'s spelling sasl.enable", () => {
    expect(readConnectConfig(configFile({ sasl: { enabled: false } })).sasl).toBe(false);
    expect(readConnectConfig(configFile({ sasl: { enable: false } })).sasl).toBe(false);
    expect(readConnectConfig(configFile({ sasl: { enable: false, enabled: false } })).sasl).toBe(false);
    expect(readConnectConfig(configFile({ sasl: { enabled: true } }))).not.toHaveProperty('sasl');
  });

  it("sasl.allow_insecure false is kept; absent, Quark's own default applies", () => {
    expect(readConnectConfig(configFile({ sasl: { allow_insecure: false } })).allowInsecurePlain).toBe(false);
    expect(readConnectConfig(configFile({ sasl: {} }))).not.toHaveProperty('allowInsecurePlain');
  });

  it('a user without a password, and an empty password, are kept as given', () => {
    const a = readConnectConfig(configFile({ user: 'bob' }));
    expect(a.username).toBe('bob');
    expect(a).not.toHaveProperty('password');
    expect(readConnectConfig(configFile({ user: 'bob', password: '' })).password).toBe('');
  });

  it('takes IPv6 addresses with or without brackets', () => {
    expect(readConnectConfig(configFile({ host: '[::1]' })).host).toBe('::1');
    expect(readConnectConfig(configFile({ host: 'fe80::1' })).host).toBe('fe80::1');
  });

  it("takes null as absent, as Proton's C++ client does", () => {
    const file = configFile({
      scheme: null,
      host: null,
      port: null,
      user: null,
      password: null,
      sasl: { enabled: null, mechanisms: null },
      tls: { ca: null, verify: null },
    });
    expect(readConnectConfig(file)).toEqual({
      host: 'localhost',
      port: 5671,
      tls: { rejectUnauthorized: true },
      source: file,
    });
  });

  it('allows // and /* */ comments, as Proton does, but not inside strings', () => {
    const file = configFile(`\ufeff// a comment first
{
  /* the broker */ "host": "h", // end of line
  "user": "u", "password": "p//not/*a comment*/",
  "port": /* inline */ 5680
  /* a comment
     over lines */
}
// last`);
    expect(readConnectConfig(file)).toMatchObject({
      host: 'h',
      port: 5680,
      username: 'u',
      password: 'p//not/*a comment*/',
    });
  });

  it("reads the tls files, relative to the working folder (as Proton does), not to the file's folder", () => {
    const file = configFile({ tls: { ca: 'ca.pem', cert: 'cert.pem', key: join(pki, 'key.pem'), verify: true } });
    const options = readConnectConfig(file, pki);
    expect(options.tls).toEqual({
      ca: readFileSync(join(pki, 'ca.pem')),
      cert: readFileSync(join(pki, 'cert.pem')),
      key: readFileSync(join(pki, 'key.pem')),
      rejectUnauthorized: true,
    });
    // From another working folder the same relative paths are not found.
    expect(() => readConnectConfig(file, folder())).toThrow(
      /"tls\.ca" names .*ca\.pem, which cannot be read: there is no such file \(the path is relative to the working folder/,
    );
  });

  it('tls.verify false accepts any server certificate', () => {
    expect(readConnectConfig(configFile({ tls: { verify: false } })).tls).toEqual({ rejectUnauthorized: false });
  });

  it('a tls.cert file that holds the private key too needs no tls.key', () => {
    const tls = readConnectConfig(configFile({ tls: { cert: join(pki, 'both.pem') } })).tls;
    expect(tls).toEqual({
      cert: readFileSync(join(pki, 'both.pem')),
      key: readFileSync(join(pki, 'both.pem')),
      rejectUnauthorized: true,
    });
  });

  it("an empty tls object is allowed with amqp (Proton's C++ client allows it too)", () => {
    expect(readConnectConfig(configFile({ scheme: 'amqp', tls: {} })).tls).toBe(false);
  });
});

describe('readConnectConfig: bad input is refused with the file, the key and a fix', () => {
  const cases: [name: string, content: string | object, message: RegExp][] = [
    // The file itself
    [
      'invalid JSON',
      '{\n  "host": "a",\n  "port": }',
      /invalid JSON at line 3, column 11: expected a value for "port".*Correct the JSON syntax/,
    ],
    ['an empty file', '  // nothing\n', /invalid JSON at line 2, column 1: the file is empty/],
    [
      'a trailing comma',
      '{"host": "a",}',
      /invalid JSON at line 1, column 14: expected a key in double quotes, found `}`.*no comma after the last entry/,
    ],
    [
      'a missing comma',
      '{"host": "a"\n  "port": 1}',
      /invalid JSON at line 2, column 3: expected , or } after "host", found `"port": 1}`/,
    ],
    [
      'a missing comma in an array',
      '{"sasl": {"mechanisms": ["PLAIN" "ANONYMOUS"]}}',
      /expected , or \] in "sasl\.mechanisms", found `"ANONYMOUS"]`/,
    ],
    ['single quotes', "{'host': 'a'}", /expected a key in double quotes/],
    ['an unclosed comment', '{"host": "a"} /* ...', /a \/\* comment is never closed/],
    ['an unclosed string', '{"host": "a}', /a string is not closed/],
    ['a raw line break in a string', '{"host": "a\nb"}', /a string has a control character/],
    ['text after the object', '{"host": "a"} x', /unexpected `x` after the JSON object/],
    [
      'a repeated key',
      '{"sasl": {"mechanisms": "PLAIN",\n "mechanisms": "ANONYMOUS"}}',
      /invalid JSON at line 2, column 2: "sasl\.mechanisms" appears twice/,
    ],
    ['an array at the top', '[{"host": "a"}]', /the file must hold one JSON object.*but holds an array/],
    // Unknown keys
    [
      'an unknown top-level key',
      { host: 'a', timeout: 5 },
      /"timeout" is not a key of the connection configuration file\. Remove it or correct its spelling; the keys at the top level are "scheme", "host", "port", "user", "password", "sasl", "tls"/,
    ],
    ['username for user', { username: 'a' }, /"username" is not a key .*\(the user name key is "user"\)/],
    ['a tls key at the top', { verify: false }, /"verify" is not a key .*\("verify" goes in "tls"\)/],
    ['an unknown key even when null', { hostname: null }, /"hostname" is not a key/],
    [
      '__proto__',
      '{"__proto__": {"host": "x"}}',
      /"__proto__" is not a key of the connection configuration file\. Remove it/,
    ],
    [
      'an unknown sasl key',
      { sasl: { mechs: 'PLAIN' } },
      /"sasl\.mechs" is not a key .*\(the key is "mechanisms"\).*the keys in "sasl" are "enabled", "enable", "mechanisms", "allow_insecure"/,
    ],
    ['tls.enabled', { tls: { enabled: true } }, /"tls\.enabled" is not a key .*TLS is chosen by "scheme"/],
    // scheme, host, port
    [
      'an unknown scheme',
      { scheme: 'http' },
      /"scheme" is "http", which is neither "amqp" nor "amqps"\. Set "scheme" to "amqp"/,
    ],
    ['a scheme of the wrong type', { scheme: true }, /"scheme" must be a string, but is true/],
    ['a host of the wrong type', { host: 5 }, /"host" must be a string, but is the number 5/],
    ['an empty host', { host: '' }, /"host" is an empty string\. Give a host name/],
    [
      'a host with a port',
      { host: 'example.com:5672' },
      /"host" is "example\.com:5672", which is not a host name or IP address.*the port goes in "port"/,
    ],
    ['a URL as host', { host: 'amqp://example.com' }, /"host" is "amqp:\/\/example\.com"/],
    [
      'a port of the wrong type',
      { port: true },
      /"port" must be a number or a string, but is true\. Give a port number/,
    ],
    ['port 0', { port: 0 }, /"port" is the number 0, which is not a port number from 1 to 65535/],
    ['a port too large', { port: 65536 }, /"port" is the number 65536, which is not a port number/],
    ['a negative port', { port: -1 }, /"port" is the number -1/],
    ['a fractional port', { port: 5672.5 }, /"port" is the number 5672\.5/],
    ['a numeric string too large', { port: '99999' }, /"port" is the string "99999", which is not a port number/],
    [
      'an unknown service name',
      { port: 'http' },
      /"port" is the string "http", which is neither a port number nor a service name Quark knows \(only "amqp" and "amqps"\)/,
    ],
    // user, password
    ['a user of the wrong type', { user: 1 }, /"user" must be a string, but is the number 1/],
    ['an empty user', { user: '' }, /"user" is an empty string.*remove it to connect anonymously/],
    [
      'a password of the wrong type',
      { user: 'a', password: 1234 },
      /"password" must be a string, but is the number 1234/,
    ],
    ['a password without a user', { password: 'p' }, /"password" is given without "user"\. Add "user"/],
    // sasl
    [
      'sasl of the wrong type',
      { sasl: true },
      /"sasl" must be an object, but is true\. Write it as \{ "enabled": \.\.\./,
    ],
    [
      'sasl.enabled of the wrong type',
      { sasl: { enabled: 'no' } },
      /"sasl\.enabled" must be true or false, but is the string "no"/,
    ],
    [
      'sasl.enable of the wrong type',
      { sasl: { enable: 0 } },
      /"sasl\.enable" must be true or false, but is the number 0/,
    ],
    [
      'sasl.enable and sasl.enabled disagreeing',
      { sasl: { enable: false, enabled: true } },
      /"sasl\.enable" is false but "sasl\.enabled" is true\. Keep one of them/,
    ],
    [
      'mechanisms of the wrong type',
      { sasl: { mechanisms: 5 } },
      /"sasl\.mechanisms" must be a string or an array of strings, but is the number 5/,
    ],
    [
      'a mechanism of the wrong type',
      { sasl: { mechanisms: ['PLAIN', 1] } },
      /"sasl\.mechanisms\[1\]" must be a string, but is the number 1/,
    ],
    ['no mechanisms', { sasl: { mechanisms: [] } }, /"sasl\.mechanisms" names no mechanism/],
    ['a blank mechanisms string', { sasl: { mechanisms: '  ' } }, /"sasl\.mechanisms" names no mechanism/],
    [
      'a lower-case mechanism',
      { sasl: { mechanisms: 'plain' } },
      /"sasl\.mechanisms" has "plain", which is not a SASL mechanism name\. Give mechanism names in capitals/,
    ],
    [
      'mechanisms with SASL off',
      { sasl: { enabled: false, mechanisms: 'PLAIN' } },
      /"sasl\.mechanisms" is given, but "sasl\.enabled" is false/,
    ],
    ['a user with SASL off', { user: 'a', sasl: { enable: false } }, /"user" needs SASL, but "sasl\.enable" is false/],
    [
      'allow_insecure of the wrong type',
      { sasl: { allow_insecure: 'yes' } },
      /"sasl\.allow_insecure" must be true or false/,
    ],
    // tls
    [
      'tls with amqp',
      { scheme: 'amqp', tls: { verify: false } },
      /"tls" is given, but "scheme" is "amqp" \(no TLS\)\. Set "scheme" to "amqps"/,
    ],
    ['tls of the wrong type', { tls: 'yes' }, /"tls" must be an object, but is the string "yes"/],
    [
      'tls.verify of the wrong type',
      { tls: { verify: 'false' } },
      /"tls\.verify" must be true or false, but is the string "false"/,
    ],
    ['tls.ca of the wrong type', { tls: { ca: ['a.pem'] } }, /"tls\.ca" must be a string, but is an array/],
    ['an empty tls.ca', { tls: { ca: '' } }, /"tls\.ca" is an empty string/],
    [
      'a missing tls.ca file',
      { tls: { ca: '/nonexistent/ca.pem' } },
      /"tls\.ca" names \/nonexistent\/ca\.pem, which cannot be read: there is no such file\. Set "tls\.ca" to the path of a readable PEM file/,
    ],
    [
      'a tls.cert that is a folder',
      { tls: { cert: '/' } },
      /"tls\.cert" names \/, which cannot be read: it is a folder/,
    ],
    [
      'a tls.ca that is not PEM',
      { tls: { ca: 'not-pem.txt' } },
      /"tls\.ca" names .*not-pem\.txt, which holds no PEM certificate\. Give a PEM file/,
    ],
    [
      'a tls.key that is not a key',
      { tls: { cert: 'cert.pem', key: 'cert.pem' } },
      /"tls\.key" names .*cert\.pem, which holds no PEM private key/,
    ],
    ['a tls.key without tls.cert', { tls: { key: 'key.pem' } }, /"tls\.key" is given without "tls\.cert"/],
    [
      'a tls.cert without a key',
      { tls: { cert: 'cert.pem' } },
      /"tls\.cert" names .*cert\.pem, which holds no private key, and "tls\.key" is not given\. Add "tls\.key"/,
    ],
    [
      'an encrypted key',
      { tls: { cert: 'cert.pem', key: 'enc-key.pem' } },
      /"tls\.key" names an encrypted private key.*Give an unencrypted key/,
    ],
  ];

  it.each(cases)('%s', (_name, content, message) => {
    const file = configFile(content);
    let error: unknown;
    try {
      readConnectConfig(file, pki);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidArgumentError);
    const text = (error as Error).message;
    expect(text.startsWith(`connection configuration ${file}`)).toBe(true);
    expect(text).toMatch(message);
  });

  it('a file that cannot be read is named', () => {
    const file = join(folder(), 'missing.json');
    expect(() => readConnectConfig(file)).toThrow(
      new InvalidArgumentError(
        `connection configuration ${file} cannot be read: there is no such file. Check the path (MESSAGING_CONNECT_FILE or the search of findConnectConfig) and the file's permissions.`,
      ),
    );
  });
});

describe('connect() with no peer named reads the configuration file', () => {
  it('connects to the host and port of $MESSAGING_CONNECT_FILE; options given win over the file; a url ignores the file', async () => {
    const { startBroker, connect } = await import('../../src/index.js');
    const broker = await startBroker({ port: 0, users: { fileuser: 'filepw' }, allowInsecurePlain: true });
    const saved = process.env['MESSAGING_CONNECT_FILE'];
    try {
      process.env['MESSAGING_CONNECT_FILE'] = configFile({
        scheme: 'amqp',
        host: '127.0.0.1',
        port: broker.port,
        user: 'fileuser',
        password: 'filepw',
      });
      const conn = await connect({ reconnect: false });
      expect(conn.url).toBe(`amqp://fileuser@127.0.0.1:${broker.port}`);
      expect(conn.isOpen).toBe(true);
      await conn.close();
      // The options win: a wrong password given in code is used, and refused.
      await expect(connect({ password: 'wrong', reconnect: false })).rejects.toThrow(/Authentication failed/);
      // A file with an error is refused, naming the file, instead of connecting somewhere else.
      process.env['MESSAGING_CONNECT_FILE'] = configFile({ scheme: 'amqp', hots: 'x' });
      await expect(connect({ reconnect: false })).rejects.toThrow(/connection configuration .*connect\.json.*"hots"/);
      // A URL given: the file is not read at all.
      const viaUrl = await connect({ url: `amqp://fileuser:filepw@127.0.0.1:${broker.port}`, reconnect: false });
      await viaUrl.close();
    } finally {
      if (saved === undefined) delete process.env['MESSAGING_CONNECT_FILE'];
      else process.env['MESSAGING_CONNECT_FILE'] = saved;
      await broker.close();
    }
  });
});
