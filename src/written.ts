import type { Writable } from 'node:stream';

const EMPTY = Buffer.alloc(0);

/**
 * Resolves once everything written to `stream` so far has left the process, or the stream failed,
 * or `timeoutMs` passed. An empty write's callback runs after the writes queued before it; 'drain'
 * would not do, as it only follows a write that returned false (a backlog above highWaterMark).
 */
export function written(stream: Writable, timeoutMs: number): Promise<void> {
  if (stream.destroyed || stream.writableLength === 0) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    timer.unref();
    stream.write(EMPTY, () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * A worker's last lines: its stdout and stderr are pipes to the master, which stops reading them
 * while its own log reader is slow, and exiting with bytes still queued would lose those lines.
 */
export function stdioWritten(timeoutMs: number): Promise<void> {
  return Promise.all([written(process.stdout, timeoutMs), written(process.stderr, timeoutMs)]).then(() => {});
}
