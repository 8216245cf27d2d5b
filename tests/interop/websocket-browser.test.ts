/**
 * A real browser as the client: headless Chromium (Debian's `chromium` package) loads a page that
 * runs rhea's browser build over the browser's own WebSocket, against Quark's broker. The page
 * sends three messages (each accepted), receives three that Quark sent, and posts what it saw
 * back to the test's HTTP server. Chromium missing fails the test: it never skips.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, it } from 'vitest';
import { connect, startBroker, type Broker } from '../../src/index.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';

let broker: Broker | undefined;
let server: http.Server | undefined;
let browser: ChildProcess | undefined;
const profile = mkdtempSync(join(tmpdir(), 'quark-chromium-'));
afterEach(async () => {
  if (browser?.pid !== undefined && browser.exitCode === null) {
    const exited = new Promise((resolve) => browser!.once('exit', resolve));
    process.kill(-browser.pid, 'SIGKILL'); // the browser and the processes it started
    await exited;
  }
  browser = undefined;
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server?.closeAllConnections();
  server = undefined;
  await broker?.stop();
  broker = undefined;
  rmSync(profile, { recursive: true, force: true });
});

const page = (wsUrl: string): string => `<!doctype html><html><body><script src="/rhea.js"></script><script>
const report = (result) => fetch('/result', { method: 'POST', body: JSON.stringify(result) });
const result = { accepted: 0, received: [], userAgent: navigator.userAgent };
const rhea = window.rheaUmd; // the UMD build's global
const container = rhea.create_container({ id: 'chromium-page' });
const connection = container.connect({ connection_details: container.websocket_connect(WebSocket)(${JSON.stringify(wsUrl)}, ['amqp']), username: 'anonymous', reconnect: false });
connection.on('connection_open', () => {
  const sender = connection.open_sender('from-browser');
  sender.once('sendable', () => { for (let i = 0; i < 3; i++) sender.send({ body: 'browser ' + i }); });
  sender.on('accepted', () => {
    if (++result.accepted < 3) return;
    const receiver = connection.open_receiver({ source: 'to-browser', autoaccept: true });
    receiver.on('message', (ctx) => {
      result.received.push(ctx.message.body);
      if (result.received.length === 3) { connection.close(); report(result); }
    });
  });
});
connection.on('disconnected', (ctx) => report({ ...result, error: String(ctx.error) }));
</script></body></html>`;

it("Chromium runs rhea over its own WebSocket against Quark's broker: sends accepted, messages received and settled", async () => {
  expect(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium (.ci/run installs it)`).toBe(true);
  broker = await startBroker({ port: 0, websocket: { path: '/amqp' } });
  const quark = await connect(broker.url);
  const sender = await quark.createSender('to-browser');
  await Promise.all([0, 1, 2].map((i) => sender.send({ body: `quark ${i}` })));
  const rheaBundle = readFileSync(join(root, 'node_modules', 'rhea', 'dist', 'rhea-umd.js'));
  const result = new Promise<Record<string, unknown>>((resolve) => {
    server = http.createServer((request, response) => {
      if (request.url === '/rhea.js')
        return void response.writeHead(200, { 'Content-Type': 'text/javascript' }).end(rheaBundle);
      if (request.url === '/result') {
        let body = '';
        request.on('data', (c: Buffer) => (body += c.toString()));
        request.on('end', () => {
          response.end('ok');
          resolve(JSON.parse(body) as Record<string, unknown>);
        });
        return;
      }
      response.writeHead(200, { 'Content-Type': 'text/html' }).end(page(broker!.websocketUrl!));
    });
    server.listen(0, '127.0.0.1');
  });
  await new Promise((resolve) => server!.once('listening', resolve));
  // As root (CI) Chromium needs --no-sandbox; a small /dev/shm (containers) needs --disable-dev-shm-usage.
  browser = spawn(
    CHROMIUM,
    [
      '--headless=new',
      '--no-sandbox',
      '--disable-dev-shm-usage',
      '--disable-gpu',
      '--no-first-run',
      '--disable-extensions',
      `--user-data-dir=${profile}`,
      `http://127.0.0.1:${(server!.address() as AddressInfo).port}/`,
    ],
    { detached: true, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  browser.stderr!.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4000)));
  const exited = new Promise<never>((_resolve, reject) =>
    browser!.once('exit', (code) =>
      reject(new Error(`chromium exited (${String(code)}) before the page reported:\n${stderr}`)),
    ),
  );
  const seen = await Promise.race([result, exited]);
  expect(seen).toMatchObject({ accepted: 3, received: ['quark 0', 'quark 1', 'quark 2'] });
  expect(String(seen.userAgent)).toMatch(/Chrome\//);
  const receiver = await quark.createReceiver('from-browser');
  const bodies: unknown[] = [];
  for (let i = 0; i < 3; i++) {
    const delivery = await receiver.receive({ timeout: 5000 });
    bodies.push(delivery.message.body);
    delivery.accept();
  }
  expect(bodies).toEqual(['browser 0', 'browser 1', 'browser 2']);
  await quark.close();
}, 45_000);
