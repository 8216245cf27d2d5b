// For a benchmark's child process: every failure is reported to the driver (which fails the run)
// and ends the process, and the process never outlives its driver.
import { setImmediate } from 'node:timers';

/**
 * Installs the guards; returns `post` (a message to the driver) and `fail` (report an error and exit).
 * @returns {{ post: (msg: unknown) => void, fail: (err: unknown) => void }}
 */
export function guardChild() {
  const post = (msg) => process.send?.(msg);
  const fail = (err) => {
    post({ type: 'error', message: err instanceof Error ? `${err.message}\n${err.stack}` : String(err) });
    setImmediate(() => process.exit(1));
  };
  process.on('uncaughtException', fail);
  process.on('unhandledRejection', fail);
  // The driver is gone: never outlive it.
  process.on('disconnect', () => process.exit(2));
  return { post, fail };
}
