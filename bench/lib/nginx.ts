// The one nginx every stack is measured through: the installed binary, worker_processes = cores,
// the same tuning for every stack, only the `location` blocks differ. Each start gets its own
// prefix dir (config, logs, temp files) and free port; stop() is graceful, then SIGKILL.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { findNginx, freePort } from '../../test/helpers/nginx.js';
import { canConnect } from '../../test/helpers/peers.js';
import { childrenOf } from './proc.js';

export interface BenchNginx {
  port: number;
  baseUrl: string;
  dir: string;
  pid: number;
  /** The nginx worker processes. */
  workers(): number[];
  errorLog(): string;
  stop(): Promise<void>;
}

export interface NginxSite {
  /** Directives at http level (an `upstream` block). */
  http?: string;
  /** The server's locations. */
  locations: string;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Same for every stack. Bodies and responses stay in memory (client_body_buffer_size above the
 * upload size, *_max_temp_file_size 0), so the disk is not what gets measured; access_log off,
 * as the backends run without a request log too.
 */
function render(dir: string, port: number, workers: number, site: NginxSite): string {
  return `daemon off;
master_process on;
worker_processes ${workers};
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    client_body_temp_path ${dir}/client_body_temp;
    proxy_temp_path ${dir}/proxy_temp;
    fastcgi_temp_path ${dir}/fastcgi_temp;
    uwsgi_temp_path ${dir}/uwsgi_temp;
    scgi_temp_path ${dir}/scgi_temp;
    client_max_body_size 200m;
    client_body_buffer_size 128k;
    uwsgi_buffers 16 64k;
    uwsgi_max_temp_file_size 0;
    uwsgi_read_timeout 60s;
    proxy_buffers 16 64k;
    proxy_max_temp_file_size 0;
    proxy_read_timeout 60s;
    ${site.http ?? ''}
    server {
        listen 127.0.0.1:${port} reuseport;
        server_name bench.test;
        ${site.locations}
    }
}
`;
}


export async function startBenchNginx(site: NginxSite, workers: number): Promise<BenchNginx> {
  const bin = findNginx();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'nuwsgi-bench-nginx-'));
  await chmod(dir, 0o755); // nginx workers (nobody) must reach their temp dirs
  const errorLogPath = path.join(dir, 'error.log');
  const pidPath = path.join(dir, 'nginx.pid');
  const errorLog = () => (existsSync(errorLogPath) ? readFileSync(errorLogPath, 'utf8') : '');
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    await writeFile(path.join(dir, 'nginx.conf'), render(dir, port, workers, site));
    await writeFile(errorLogPath, '');
    await unlink(pidPath).catch(() => {});
    const child = spawn(bin, ['-p', `${dir}/`, '-c', path.join(dir, 'nginx.conf'), '-e', errorLogPath], {
      detached: true,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = () => child.exitCode !== null || child.signalCode !== null;
    const deadline = Date.now() + 10_000;
    while (!exited() && Date.now() < deadline) {
      if (existsSync(pidPath) && (await canConnect(port))) {
        // The master writes the pid file before it forks the workers: wait for them too.
        while (childrenOf(child.pid!).length < workers && Date.now() < deadline) await sleep(20);
        return instance(child, port, dir, errorLog);
      }
      await sleep(30);
    }
    killGroup(child);
    const log = errorLog() + stderr;
    if (/Address already in use/.test(log) && attempt < 5) continue;
    await rm(dir, { recursive: true, force: true });
    throw new Error(`nginx failed to start:\n${log}`);
  }
}

// Whatever happens to the bench, no nginx outlives it.
const live = new Set<ChildProcess>();
process.once('exit', () => live.forEach(killGroup));

function killGroup(child: ChildProcess): void {
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    // gone
  }
}

function instance(child: ChildProcess, port: number, dir: string, errorLog: () => string): BenchNginx {
  let stopping: Promise<void> | undefined;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exit = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGQUIT');
      const timer = setTimeout(() => killGroup(child), 5000);
      await exit;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };
  live.add(child);
  child.once('exit', () => live.delete(child));
  return {
    port,
    baseUrl: `http://127.0.0.1:${port}`,
    dir,
    pid: child.pid!,
    workers: () => childrenOf(child.pid!),
    errorLog,
    stop: () => (stopping ??= stop()),
  };
}
