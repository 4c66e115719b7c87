// The six stacks of issue 8, and nuwsgi's uwsgi path without its native acceptor, each started
// by the bench itself behind the same nginx.
import { mkdtemp, rm } from 'node:fs/promises';
import { chmodSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startBackend, type Backend } from './backend.js';
import { startBenchNginx, type BenchNginx } from './nginx.js';
import { freePort } from '../../test/helpers/nginx.js';

export type StackId = 'nuwsgi-uwsgi' | 'nuwsgi-uwsgi-ts' | 'nuwsgi-http' | 'node-cluster' | 'uwsgi-python' | 'c-ceiling' | 'nginx';
export type AppId = 'bench' | 'express';

export interface BenchContext {
  root: string;
  /** Backend worker processes (and nginx worker_processes): the core count. */
  workers: number;
  nginxWorkers: number;
  ceilingBin: string;
  /** hello, json and download bodies as files (the C responder and nginx serve them). */
  payloadDir: string;
  /** Node flags for nuwsgi's master, which its workers inherit (the profile's --cpu-prof). */
  nuwsgiNodeArgs?: string[];
}

export interface RunningStack {
  id: StackId;
  nginx: BenchNginx;
  /** The processes that serve requests (backend workers; nginx's for the nginx stack). */
  workers(): number[];
  backendPid?: number;
  output(): string;
  stop(): Promise<void>;
}

export interface StackInfo {
  id: StackId;
  label: string;
  /** Which path it stands for, for the ratios. */
  path: 'uwsgi' | 'http' | 'ceiling';
  apps: AppId[];
}

export const STACKS: StackInfo[] = [
  { id: 'nuwsgi-uwsgi', label: 'nuwsgi, uwsgi_pass (unix), native acceptor', path: 'uwsgi', apps: ['bench', 'express'] },
  { id: 'nuwsgi-uwsgi-ts', label: 'nuwsgi, uwsgi_pass (unix), pure TypeScript (--no-native-io)', path: 'uwsgi', apps: ['bench', 'express'] },
  { id: 'nuwsgi-http', label: 'nuwsgi --http-socket, proxy_pass keepalive', path: 'http', apps: ['bench', 'express'] },
  { id: 'node-cluster', label: 'node:http cluster, proxy_pass keepalive', path: 'http', apps: ['bench', 'express'] },
  { id: 'uwsgi-python', label: 'uWSGI 2.0 + Python, uwsgi_pass (unix)', path: 'uwsgi', apps: ['bench'] },
  { id: 'c-ceiling', label: 'C responder, uwsgi_pass (unix)', path: 'ceiling', apps: ['bench'] },
  { id: 'nginx', label: 'nginx alone (return 200 / static file)', path: 'ceiling', apps: ['bench'] },
];
export const stackInfo = (id: StackId) => STACKS.find((s) => s.id === id)!;

const UWSGI_LOCATION = (sock: string) => `location / { include /etc/nginx/uwsgi_params; uwsgi_pass unix:${sock}; }`;

/** The usual reverse-proxy block: HTTP/1.1 with pooled upstream connections and the forwarding headers. */
const proxySite = (port: number) => ({
  http: `upstream backend { server 127.0.0.1:${port}; keepalive 256; }`,
  locations: `location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
        }`,
});

function appFile(ctx: BenchContext, app: AppId): string {
  return path.join(ctx.root, 'bench/apps', app === 'bench' ? 'bench-app.mjs' : 'express-app.mjs');
}

async function socketDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'nuwsgi-bench-'));
  chmodSync(dir, 0o755); // nginx's workers run as nobody
  return dir;
}

async function withNginx(id: StackId, ctx: BenchContext, backend: Backend | undefined, site: Parameters<typeof startBenchNginx>[0], cleanup: () => Promise<void>): Promise<RunningStack> {
  let nginx: BenchNginx;
  try {
    nginx = await startBenchNginx(site, ctx.nginxWorkers);
  } catch (e) {
    await backend?.stop();
    await cleanup();
    throw e;
  }
  return {
    id,
    nginx,
    workers: () => (backend ? backend.workers() : nginx.workers()),
    backendPid: backend?.pid,
    output: () => backend?.output() ?? '',
    async stop() {
      await nginx.stop();
      await backend?.stop();
      await cleanup();
    },
  };
}

export async function startStack(id: StackId, app: AppId, ctx: BenchContext): Promise<RunningStack> {
  const n = String(ctx.workers);
  const nuwsgi = path.join(ctx.root, 'bin/nuwsgi.js');
  const nodeArgs = ctx.nuwsgiNodeArgs ?? [];
  switch (id) {
    case 'nuwsgi-uwsgi':
    case 'nuwsgi-uwsgi-ts': {
      const dir = await socketDir();
      const sock = path.join(dir, 'app.sock');
      const io = id === 'nuwsgi-uwsgi' ? '--native-io' : '--no-native-io';
      const backend = await startBackend({
        cmd: process.execPath,
        args: [...nodeArgs, nuwsgi, '--socket', sock, '--chmod-socket=666', io, '--processes', n, '--disable-logging', appFile(ctx, app)],
        // Which path serves is part of the result: a missing addon must not pass for the native path.
        ready: id === 'nuwsgi-uwsgi' ? /uwsgi sockets: native acceptor[^]*nuwsgi is ready/ : /nuwsgi is ready/,
        stopSignal: 'SIGTERM',
      });
      return withNginx(id, ctx, backend, { locations: UWSGI_LOCATION(sock) }, () => rm(dir, { recursive: true, force: true }));
    }
    case 'nuwsgi-http': {
      const port = await freePort();
      const backend = await startBackend({
        cmd: process.execPath,
        args: [...nodeArgs, nuwsgi, '--http-socket', `127.0.0.1:${port}`, '--processes', n, '--disable-logging', appFile(ctx, app)],
        ready: /nuwsgi is ready/,
        stopSignal: 'SIGTERM',
      });
      return withNginx(id, ctx, backend, proxySite(port), async () => {});
    }
    case 'node-cluster': {
      const port = await freePort();
      const backend = await startBackend({
        cmd: process.execPath,
        args: [path.join(ctx.root, 'bench/apps/node-cluster.mjs'), String(port), n, appFile(ctx, app)],
        ready: /^ready$/m,
        stopSignal: 'SIGTERM',
      });
      return withNginx(id, ctx, backend, proxySite(port), async () => {});
    }
    case 'uwsgi-python': {
      if (app !== 'bench') throw new Error('uWSGI + Python serves the bench app only');
      const dir = await socketDir();
      const sock = path.join(dir, 'app.sock');
      const backend = await startBackend({
        cmd: 'uwsgi-core',
        args: [
          '--plugin', 'python3', '--master', '--processes', n, '--socket', sock, '--chmod-socket=666',
          '--listen', '1024', '--disable-logging', '--wsgi-file', path.join(ctx.root, 'bench/apps/bench_app.py'),
        ],
        ready: new RegExp(`spawned uWSGI worker ${n} `),
        stopSignal: 'SIGINT',
      });
      return withNginx(id, ctx, backend, { locations: UWSGI_LOCATION(sock) }, () => rm(dir, { recursive: true, force: true }));
    }
    case 'c-ceiling': {
      if (app !== 'bench') throw new Error('the C responder serves the bench app only');
      const dir = await socketDir();
      const sock = path.join(dir, 'app.sock');
      const p = (f: string) => path.join(ctx.payloadDir, f);
      const backend = await startBackend({
        cmd: ctx.ceilingBin,
        args: [sock, n, p('hello'), p('json'), p('download')],
        ready: /ceiling: \d+ processes/,
        stopSignal: 'SIGTERM',
        signalGroup: true,
      });
      return withNginx(id, ctx, backend, { locations: UWSGI_LOCATION(sock) }, () => rm(dir, { recursive: true, force: true }));
    }
    case 'nginx': {
      if (app !== 'bench') throw new Error('nginx alone serves the bench app only');
      const p = (f: string) => path.join(ctx.payloadDir, f);
      return withNginx(id, ctx, undefined, {
        locations: `location = /hello { default_type text/plain; return 200 "Hello, World!\\n"; }
        location = /json { default_type application/json; alias ${p('json')}; }
        location = /download { default_type application/octet-stream; alias ${p('download')}; }
        location = /upload { default_type text/plain; return 200 "102400\\n"; }`,
      }, async () => {});
    }
  }
}
