import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { killPrograms, startProgram } from '../support/programs.js';

const cli = join(__dirname, '..', '..', 'dist', 'esm', 'cli', 'main.js');

function quark(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, ...args], { timeout: 30000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

afterEach(() => killPrograms());

describe('the quark CLI over WebSocket', () => {
  it('broker --websocket PORT --websocket-path PATH serves ws:// beside TCP; send and receive reach it with --address', async () => {
    const run = startProgram(
      process.execPath,
      [cli, 'broker', '--port', '0', '--websocket', '0', '--websocket-path', '/amqp'],
      process.cwd(),
      30_000,
    );
    const [, url] = (await run.waitFor(/ and (ws:\/\/127\.0\.0\.1:\d+\/amqp) /)) as unknown as [string, string];
    const sent = await quark(['send', url, '--address', 'orders', '--count', '3', '--body', 'over ws']);
    expect(sent.code).toBe(0);
    const got = await quark(['receive', url, '--address', 'orders', '--count', '3', '--json']);
    expect(got.code).toBe(0);
    expect(got.stdout.trim().split('\n')).toHaveLength(3);
    expect(got.stdout).toMatch(/over ws/);
    run.child.kill('SIGINT');
    expect((await run.done).code).toBe(0);
  });

  it('refuses a ws:// URL without --address, and --websocket-path without --websocket, with exit code 2', async () => {
    const cases: [string[], RegExp][] = [
      [
        ['send', 'ws://127.0.0.1:1/amqp'],
        /the path of ws:\/\/127\.0\.0\.1:1\/amqp is the WebSocket's HTTP path: give the address with --address/,
      ],
      [['send', 'amqp://127.0.0.1:1/q', '--address', 'r'], /either as the URL's path or with --address, not both/],
      [['broker', '--port', '0', '--websocket-path', '/amqp'], /--websocket-path needs --websocket PORT/],
      [
        ['broker', '--port', '0', '--websocket', '0', '--websocket-path', 'amqp'],
        /websocket\.path must be an HTTP path/,
      ],
    ];
    for (const [args, message] of cases) {
      const r = await quark(args);
      expect(r.stderr).toMatch(message);
      expect(r.code).toBe(2);
    }
  });
});
