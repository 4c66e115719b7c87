// Starts a real nginx (the installed binary) in front of a uwsgi backend, for
// integration tests and scripts/capture-fixtures.ts. Each instance gets its own
// temp dir (config, logs, pid, temp files) and its own free port, so instances
// can run in parallel (ava runs test files concurrently).
//
// Also: httpRequest() (node:http, no pooling, exact header list) and rawHttp()
// (raw TCP bytes) for talking to it from the client side.

import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, rmSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { canConnect, livePeers, readLog, sleep } from './peers.js';

export interface StartNginxOptions {
  /** uwsgi_pass target, e.g. "unix:/tmp/x/app.sock" or "127.0.0.1:9000". */
  upstream: string;
  /** Extra directives inside `location / { ... }`. */
  locationExtra?: string;
  /** Extra directives at server level, e.g. "large_client_header_buffers 4 64k;". */
  serverExtra?: string;
}

export interface NginxInstance {
  port: number;
  /** "http://127.0.0.1:<port>" */
  baseUrl: string;
  /** The nginx prefix dir; removed by stop(). */
  dir: string;
  /** Current content of DIR/error.log ("" once stopped). */
  errorLog(): string;
  /** SIGQUIT (graceful), SIGKILL after 5 s, then remove dir. Idempotent. */
  stop(): Promise<void>;
}

const NOT_INSTALLED =
  'nginx not installed: run `apt-get install nginx-light` (the .ci/run script does this)';
const START_ATTEMPTS = 5;
const READY_TIMEOUT_MS = 10_000;
const STOP_GRACE_MS = 5_000;

/** Path of the nginx binary: /usr/sbin/nginx, else `nginx` on PATH. Throws if neither. */
export function findNginx(): string {
  const dirs = ['/usr/sbin', ...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean)];
  for (const d of dirs) {
    const candidate = path.join(d, 'nginx');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // try the next one
    }
  }
  // Deliberately an error, not a skip: silently skipped nginx tests hide regressions.
  throw new Error(NOT_INSTALLED);
}

/** Walks up from this module (dist/test/helpers or test/helpers) to the repo root. */
function findRepoFile(rel: string): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = path.join(dir, rel);
    if (existsSync(candidate)) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`cannot find ${rel} above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

function render(template: string, vars: Record<string, string>): string {
  return template.replace(/\{\{([A-Z_]+)\}\}/g, (whole, name: string) => {
    const v = vars[name];
    if (v === undefined) throw new Error(`nginx template: unknown placeholder ${whole}`);
    return v;
  });
}

/** A port the kernel just handed out. Racy by nature; startNginx retries on EADDRINUSE. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}




export async function startNginx(opts: StartNginxOptions): Promise<NginxInstance> {
  const bin = findNginx();
  const template = await readFile(findRepoFile('nginx/nginx.test.conf.template'), 'utf8');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'nuwsgi-nginx-'));
  // mkdtemp makes 0700; nginx workers run as `nobody` and must traverse DIR
  // to reach their temp dirs (e.g. request bodies buffered to disk).
  await chmod(dir, 0o755);
  const confPath = path.join(dir, 'nginx.conf');
  const errorLogPath = path.join(dir, 'error.log');
  const pidPath = path.join(dir, 'nginx.pid');
  const readErrorLog = () => readLog(errorLogPath);

  try {
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      await writeFile(
        confPath,
        render(template, {
          DIR: dir,
          PORT: String(port),
          UPSTREAM: opts.upstream,
          SERVER_EXTRA: opts.serverExtra ?? '',
          LOCATION_EXTRA: opts.locationExtra ?? '',
        }),
      );
      // Fresh log and no stale pid file per attempt: the pid file is our
      // "listen sockets are bound" signal (nginx writes it after binding).
      await writeFile(errorLogPath, '');
      await unlink(pidPath).catch(() => {});

      // -e: without it nginx opens the compiled-in error log before reading the config.
      const child = spawn(bin, ['-p', `${dir}/`, '-c', confPath, '-e', errorLogPath], {
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
      let spawnError: Error | undefined;
      child.once('error', (e) => (spawnError = e));
      livePeers.set(child, dir);

      const exited = () => child.exitCode !== null || child.signalCode !== null || spawnError;
      const deadline = Date.now() + READY_TIMEOUT_MS;
      let ready = false;
      while (!exited() && Date.now() < deadline) {
        // Check the pid file first: a bare connect could reach whoever stole the port.
        if (existsSync(pidPath) && (await canConnect(port))) {
          ready = true;
          break;
        }
        await sleep(50);
      }
      if (ready && !exited()) {
        return makeInstance(child, port, dir, readErrorLog);
      }

      const why = spawnError
        ? String(spawnError)
        : exited()
          ? `exited (${child.exitCode ?? child.signalCode})`
          : `not accepting connections on 127.0.0.1:${port} after ${READY_TIMEOUT_MS} ms`;
      await killNow(child);
      const log = readErrorLog() + output;
      if (/Address already in use/.test(log) && attempt < START_ATTEMPTS) continue;
      throw new Error(`nginx failed to start: ${why}\n--- error.log + output ---\n${log}`);
    }
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}

/** SIGKILL the whole process group (master + workers) and wait for the master. */
async function killNow(child: ChildProcess): Promise<void> {
  // pid is undefined when spawn itself failed: nothing to kill or wait for.
  const gone = child.pid === undefined || child.exitCode !== null || child.signalCode !== null;
  const exit = gone ? Promise.resolve() : new Promise<void>((r) => child.once('exit', () => r()));
  if (child.pid !== undefined) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // no such group: already gone
    }
  }
  await exit;
  livePeers.delete(child);
}

function makeInstance(child: ChildProcess, port: number, dir: string, errorLog: () => string): NginxInstance {
  let stopping: Promise<void> | undefined;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exit = new Promise<void>((r) => child.once('exit', () => r()));
      // SIGQUIT to the master: graceful, it stops its workers and exits after them.
      child.kill('SIGQUIT');
      const timer = setTimeout(() => void killNow(child), STOP_GRACE_MS);
      await exit;
      clearTimeout(timer);
    }
    livePeers.delete(child);
    await rm(dir, { recursive: true, force: true });
  };
  return {
    port,
    baseUrl: `http://127.0.0.1:${port}`,
    dir,
    errorLog,
    stop: () => (stopping ??= stop()),
  };
}

export interface HttpRequestOptions {
  method: string;
  /** Absolute URL, e.g. `${nginx.baseUrl}/path?q=1`. */
  url: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
  /** Sent in this order after `headers`; may repeat names. */
  rawHeaders?: [string, string][];
  /** Whole-request bound; default 60 s (above nginx's uwsgi_read_timeout 30s). */
  timeoutMs?: number;
}

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
}

/**
 * One request on a fresh connection (agent: false). Headers are passed to
 * node:http as a flat array, so they go out exactly as listed, duplicates
 * included; Host and Content-Length are added only when absent.
 */
export function httpRequest(opts: HttpRequestOptions): Promise<HttpResponse> {
  const url = new URL(opts.url);
  const list: [string, string][] = [...Object.entries(opts.headers ?? {}), ...(opts.rawHeaders ?? [])];
  const has = (name: string) => list.some(([k]) => k.toLowerCase() === name);
  // With an array of headers node:http adds neither Host nor Content-Length itself.
  if (!has('host')) list.unshift(['Host', url.host]);
  const body = opts.body === undefined ? undefined : Buffer.from(opts.body);
  if (body && !has('content-length') && !has('transfer-encoding')) {
    list.push(['Content-Length', String(body.length)]);
  }

  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        method: opts.method,
        path: url.pathname + url.search,
        agent: false,
        headers: list.flat(),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () =>
          resolve({
            status: res.statusCode!,
            headers: res.headers,
            rawHeaders: res.rawHeaders,
            body: Buffer.concat(chunks),
          }),
        );
      },
    );
    req.setTimeout(opts.timeoutMs ?? 60_000, () =>
      req.destroy(new Error(`httpRequest ${opts.method} ${opts.url}: timed out`)),
    );
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Writes `bytes` to 127.0.0.1:port and resolves with everything read until the
 * server closes the connection (bounded at 10 s). For requests node:http cannot
 * express: HTTP/1.0 without Host, hand-made chunked bodies, malformed input.
 * The request must make the server close (HTTP/1.0 or `Connection: close`).
 * We never half-close our side: nginx treats a client FIN as an abort (499).
 */
export function rawHttp(port: number, bytes: string | Buffer, timeoutMs = 10_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const sock = net.connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => {
      sock.destroy();
      const got = Buffer.concat(chunks);
      reject(
        new Error(
          `rawHttp: server did not close within ${timeoutMs} ms; got ${got.length} bytes: ` +
            JSON.stringify(got.subarray(0, 300).toString('latin1')),
        ),
      );
    }, timeoutMs);
    sock.on('connect', () => sock.write(bytes));
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    sock.on('close', (hadError) => {
      clearTimeout(timer);
      if (!hadError) resolve(Buffer.concat(chunks));
    });
  });
}
