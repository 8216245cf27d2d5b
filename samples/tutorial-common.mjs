// Shared by the tutorial samples: command-line options, the optional in-process broker, and
// printing message bodies. Not a sample itself.
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { startBroker } from '../dist/esm/index.js';

export const DEFAULT_URL = 'amqp://localhost:5672/examples';

/**
 * Reads the command line: `[URL] [--count N] [--embedded]` plus the sample's own options.
 * The URL's path is the address (queue) to use, as in Proton's examples: amqp://host:port/address.
 */
export function parseOptions(usage, { count = undefined, extra = {} } = {}) {
  const options = {
    help: { type: 'boolean', short: 'h' },
    embedded: { type: 'boolean' },
    ...(count === undefined ? {} : { count: { type: 'string', short: 'c' } }),
    ...extra,
  };
  let parsed;
  try {
    parsed = parseArgs({ options, allowPositionals: true });
  } catch (e) {
    console.error(`${e.message}\nusage: ${usage}`);
    process.exit(2);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(`usage: ${usage}`);
    process.exit(0);
  }
  const url = new URL(positionals[0] ?? DEFAULT_URL);
  const address = decodeURIComponent(url.pathname.replace(/^\//, '')) || 'examples';
  let n = count;
  if (values.count !== undefined) {
    n = Number(values.count);
    if (!Number.isInteger(n) || n < 0) {
      console.error(`--count must be a whole number, got ${values.count}`);
      process.exit(2);
    }
  }
  return {
    /** Where to connect (or listen): the URL without its path. */
    url: `${url.protocol}//${url.username ? `${url.username}:${url.password}@` : ''}${url.host}`,
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port === '' ? 5672 : Number(url.port),
    address,
    count: n,
    embedded: values.embedded ?? false,
    /** Whether a URL was given on the command line (else the default is used). */
    urlGiven: positionals[0] !== undefined,
    values,
    rest: positionals.slice(1),
  };
}

/** Starts an in-process broker on a free port when `--embedded` was given; returns it and the URL to use. */
export async function maybeEmbeddedBroker(opts, { quiet = false } = {}) {
  if (!opts.embedded) return { broker: undefined, url: opts.url };
  const broker = await startBroker({ port: 0 });
  if (!quiet) console.log(`started an embedded broker at ${broker.url}`);
  return { broker, url: broker.url };
}

/** A message body as text: maps as {"key": value}, bigints as plain numbers. */
export function show(value) {
  return JSON.stringify(value, (_key, v) => {
    if (v instanceof Map) return Object.fromEntries(v);
    if (typeof v === 'bigint') return Number(v);
    return v;
  });
}

/** True when `meta` (import.meta) is the module node was started with, not one imported by another sample. */
export function isMain(meta) {
  return process.argv[1] !== undefined && meta.url === pathToFileURL(process.argv[1]).href;
}
