import type { Writable } from 'node:stream';

/**
 * Resolves once what the process wrote to stdout and stderr has left it (or `timeoutMs` passed).
 * A worker's output is a pipe to the master, which stops reading while its own log reader is
 * slow; exiting with bytes still queued in Node's stream would lose those lines.
 */
export function drainStdio(timeoutMs: number): Promise<void> {
  const pending = [process.stdout, process.stderr].filter((s) => !s.destroyed && s.writableLength > 0);
  if (pending.length === 0) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    timer.unref();
    void Promise.all(pending.map(drained)).then(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

function drained(stream: Writable): Promise<void> {
  return new Promise((resolve) => {
    if (stream.writableLength === 0) return resolve();
    stream.once('drain', resolve);
    stream.once('error', resolve);
    stream.once('close', resolve);
  });
}
