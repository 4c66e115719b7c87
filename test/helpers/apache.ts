// Starts a real Apache 2.4 (Debian's apache2-bin: /usr/sbin/apache2 with mod_proxy_uwsgi) in the
// foreground, on a free port, with its own config, pid, logs and locks in a fresh temp dir, so
// nothing of /etc/apache2 is read and instances run in parallel. As root, Apache's children run
// as nobody:nogroup, as nginx's do in the test harness (the app socket must be reachable: 0666).

import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, rmSync } from 'node:fs';
import { chmod, mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './nginx.js';
import { canConnect, livePeers, readLog, sleep } from './peers.js';

const BIN = '/usr/sbin/apache2';
const MODULES = '/usr/lib/apache2/modules';
const NOT_INSTALLED = 'apache2 not installed: run `apt-get install apache2-bin` (mod_proxy_uwsgi is part of it on Debian 12; .ci/run does this)';

export interface StartApacheOptions {
  /**
   * The ProxyPass target for "/": `uwsgi://127.0.0.1:9000/` (TCP) or
   * `unix:/path/app.sock|uwsgi://localhost/` (unix socket).
   */
  backend: string;
  /** Extra directives at server level. */
  extra?: string;
}

export interface ApacheInstance {
  port: number;
  baseUrl: string;
  dir: string;
  errorLog(): string;
  stop(): Promise<void>;
}

export function findApache(): string {
  try {
    accessSync(BIN, constants.X_OK);
    accessSync(path.join(MODULES, 'mod_proxy_uwsgi.so'), constants.R_OK);
  } catch {
    // Deliberately an error, not a skip.
    throw new Error(NOT_INSTALLED);
  }
  return BIN;
}

function config(dir: string, port: number, opts: StartApacheOptions): string {
  const mod = (name: string, file: string) => `LoadModule ${name} ${MODULES}/${file}`;
  return `# Rendered by test/helpers/apache.ts
ServerRoot ${dir}
ServerName 127.0.0.1
Listen 127.0.0.1:${port}
PidFile ${dir}/apache.pid
ErrorLog ${dir}/error.log
LogLevel warn
DefaultRuntimeDir ${dir}
Mutex file:${dir} default
DocumentRoot ${dir}
User nobody
Group nogroup
${mod('mpm_event_module', 'mod_mpm_event.so')}
${mod('authz_core_module', 'mod_authz_core.so')}
${mod('proxy_module', 'mod_proxy.so')}
${mod('proxy_uwsgi_module', 'mod_proxy_uwsgi.so')}
StartServers 1
ServerLimit 2
ThreadsPerChild 25
MaxRequestWorkers 50
# Large uploads and downloads are in the matrix: bound slow backends.
Timeout 30
ProxyPass "/" "${opts.backend}"
${opts.extra ?? ''}
`;
}




async function killGroup(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  const gone = child.pid === undefined || child.exitCode !== null || child.signalCode !== null;
  const exit = gone ? Promise.resolve() : new Promise<void>((r) => child.once('exit', () => r()));
  try {
    if (child.pid !== undefined) process.kill(signal === 'SIGKILL' ? -child.pid : child.pid, signal);
  } catch {
    // gone
  }
  await exit;
}

export async function startApache(opts: StartApacheOptions): Promise<ApacheInstance> {
  const bin = findApache();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'nuwsgi-apache-'));
  await chmod(dir, 0o755);
  const confPath = path.join(dir, 'apache2.conf');
  const pidPath = path.join(dir, 'apache.pid');
  const errorLogPath = path.join(dir, 'error.log');
  const errorLog = () => readLog(errorLogPath);
  try {
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      await writeFile(confPath, config(dir, port, opts));
      await writeFile(errorLogPath, '');
      await unlink(pidPath).catch(() => {});
      // -D FOREGROUND: Debian's way to keep the parent in the foreground (no detaching), so this
      // helper owns it; a clean environment: no APACHE_* variables are needed by this config.
      const child = spawn(bin, ['-f', confPath, '-D', 'FOREGROUND'], { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
      let output = '';
      child.stdout!.on('data', (d: Buffer) => (output += d));
      child.stderr!.on('data', (d: Buffer) => (output += d));
      let spawnError: Error | undefined;
      child.once('error', (e) => (spawnError = e));
      livePeers.set(child, dir);
      const exited = () => child.exitCode !== null || child.signalCode !== null || spawnError !== undefined;
      const deadline = Date.now() + 20_000;
      while (!exited() && Date.now() < deadline) {
        if (existsSync(pidPath) && (await canConnect(port))) {
          return instance(child, port, dir, errorLog);
        }
        await sleep(50);
      }
      await killGroup(child, 'SIGKILL');
      livePeers.delete(child);
      const log = errorLog() + output;
      if (/Address already in use/.test(log) && attempt < 5) continue;
      throw new Error(`apache2 failed to start (${spawnError ?? child.exitCode ?? child.signalCode ?? 'not ready in 20 s'})\n${log}`);
    }
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}

function instance(child: ChildProcess, port: number, dir: string, errorLog: () => string): ApacheInstance {
  let stopping: Promise<void> | undefined;
  const stop = async () => {
    // SIGTERM to the parent: it stops its children and exits; SIGKILL to the group after 5 s.
    const timer = setTimeout(() => void killGroup(child, 'SIGKILL'), 5000);
    await killGroup(child, 'SIGTERM');
    clearTimeout(timer);
    livePeers.delete(child);
    await rm(dir, { recursive: true, force: true });
  };
  return { port, baseUrl: `http://127.0.0.1:${port}`, dir, errorLog, stop: () => (stopping ??= stop()) };
}
