// Starts uWSGI's own HTTP router (Debian's uwsgi-core: `uwsgi-core --plugin http`) in front of a
// uwsgi backend: `--http 127.0.0.1:PORT --http-to ADDR`, a master and one router process, no
// workers of its own. As root it drops to nobody:nogroup like the other front ends in the tests.

import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import net from 'node:net';
import { freePort } from './nginx.js';
import { canConnect, livePeers, sleep } from './peers.js';

const BINARIES = ['/usr/bin/uwsgi-core', '/usr/bin/uwsgi'];
const PLUGIN = '/usr/lib/uwsgi/plugins/http_plugin.so';
const NOT_INSTALLED = 'uWSGI HTTP router not installed: run `apt-get install uwsgi-core` (it ships the http and corerouter plugins; .ci/run does this)';

export interface StartRouterOptions {
  /** uwsgi backend: a unix socket path or host:port. */
  to: string;
  /** Extra uWSGI options, e.g. ['--http-websockets']. */
  args?: string[];
}

export interface RouterInstance {
  port: number;
  baseUrl: string;
  output(): string;
  stop(): Promise<void>;
}

export function findRouter(): string {
  for (const bin of BINARIES) {
    try {
      accessSync(bin, constants.X_OK);
      accessSync(PLUGIN, constants.R_OK);
      return bin;
    } catch {
      // next
    }
  }
  throw new Error(NOT_INSTALLED);
}




export async function startRouter(opts: StartRouterOptions): Promise<RouterInstance> {
  const bin = findRouter();
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    // SIGTERM means "reload" to a uWSGI 2.0 master; --die-on-term makes it "stop", as for nuwsgi.
    const args = ['--plugin', 'http', '--master', '--die-on-term', '--uid', 'nobody', '--gid', 'nogroup', '--http', `127.0.0.1:${port}`, '--http-to', opts.to, ...(opts.args ?? [])];
    const child = spawn(bin, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d));
    child.stderr!.on('data', (d: Buffer) => (out += d));
    let spawnError: Error | undefined;
    child.once('error', (e) => (spawnError = e));
    livePeers.set(child, undefined);
    const exited = () => child.exitCode !== null || child.signalCode !== null || spawnError !== undefined;
    const exit = new Promise<void>((r) => child.once('exit', () => r()));
    const deadline = Date.now() + 20_000;
    while (!exited() && Date.now() < deadline) {
      if (/spawned uWSGI http 1/.test(out) && (await canConnect(port))) {
        let stopping: Promise<void> | undefined;
        const stop = async () => {
          if (!exited()) {
            child.kill('SIGTERM');
            const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 5000);
            await exit;
            clearTimeout(timer);
          }
          livePeers.delete(child);
        };
        return { port, baseUrl: `http://127.0.0.1:${port}`, output: () => out, stop: () => (stopping ??= stop()) };
      }
      await sleep(50);
    }
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // gone
    }
    if (!spawnError) await exit;
    livePeers.delete(child);
    if (/Address already in use/.test(out) && attempt < 5) continue;
    throw new Error(`uWSGI router failed to start (${spawnError ?? child.exitCode ?? 'not ready in 20 s'})\n${out}`);
  }
}
