// What the helpers that start peer servers (nginx, Apache, uWSGI's router) share: waiting for a
// port, and making sure no peer outlives the test process.

import type { ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import net from 'node:net';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A log file's text so far; '' while it does not exist yet (or is gone). */
export function readLog(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(500, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

/**
 * Peers run in their own process group (detached), so one SIGKILL takes their workers down too.
 * Peers still registered when the test process exits are killed and their dirs removed.
 */
export const livePeers = new Map<ChildProcess, string | undefined>();
process.once('exit', () => {
  for (const [child, dir] of livePeers) {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
});
