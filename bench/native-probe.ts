// How close the native fast path gets to the C ceiling, before any of nuwsgi runs on it: a
// minimal responder (2 processes, the addon on one shared listening unix socket, a fixed
// "Hello, World!" answer and end()) against bench/ceiling.c, both behind the bench's nginx with
// uwsgi_pass, measured with wrk, alternated so both see the same machine. Reports req/s and the
// backend's CPU per request (/proc utime + stime of the serving processes / requests).
//
//   npx tsc -p . && node dist/bench/native-probe.js [rounds=2] [seconds=5] [hello|upload]
//
// Internal modes (spawned by itself): --serve SOCKET N  (binds, forks N --child processes),
// --child (serves the listening socket inherited as fd 3).

import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startBackend } from './lib/backend.js';
import { startBenchNginx } from './lib/nginx.js';
import { cpuSeconds, sum } from './lib/proc.js';
import { buildCeiling, repoRoot, sleep, waitServing, writePayloads } from './lib/setup.js';
import { startStack, type RunningStack } from './lib/stacks.js';
import { wrk } from './lib/wrk.js';
import { ADDON_PATH, type Acceptor, type NativeBinding } from '../src/native/binding.js';
import { FIRST_READ_BYTES, POOL_BYTES, POOL_MIN_FREE } from '../src/server/native-listener.js';

const RESPONSE = Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n\r\nHello, World!\n');
const PROCESSES = 2;

function loadAddon(): NativeBinding {
  return createRequire(import.meta.url)(ADDON_PATH) as NativeBinding;
}

/**
 * A worker: the addon on fd 3 with nuwsgi's first-read size, every connection answered and ended
 * in onConnection. `pooled`: first reads land in a pool (setPool) sized and refreshed as nuwsgi's
 * is, instead of a Buffer each.
 */
function child(pooled: boolean, exclusive: boolean): void {
  const b = loadAddon();
  let acc: Acceptor;
  let pool = Buffer.allocUnsafeSlow(POOL_BYTES);
  acc = b.createAcceptor(
    3,
    {
      onConnection(id: number, data: Buffer | number, offset?: number) {
        if (typeof data === 'number' && pool.length - offset! - data < POOL_MIN_FREE) b.setPool(acc, (pool = Buffer.allocUnsafeSlow(POOL_BYTES)));
        if (b.write(acc, id, RESPONSE) !== 0 || !b.end(acc, id)) b.destroy(acc, id);
      },
      onWritable() {},
      onPeerClose() {},
      onClosed() {},
    },
    { backlog: 1024, exclusive, readSize: FIRST_READ_BYTES },
  );
  if (pooled) b.setPool(acc, pool);
  process.on('SIGTERM', () => {
    const { accepted, waited } = b.stats(acc);
    process.stderr.write(`native-probe stats: ${waited} of ${accepted} connections waited for a poll\n`);
    process.exit(0);
  });
  process.send?.('ready');
}

/** The leader: binds the socket (as nuwsgi's master does) and forks the workers on it. */
async function serve(sock: string, n: number, flags: string[]): Promise<void> {
  const createServerHandle = (net as unknown as { _createServerHandle(a: string, p: number, t: number): { fd: number } | number })._createServerHandle;
  const handle = createServerHandle(sock, -1, -1);
  if (typeof handle === 'number') throw new Error(`bind ${sock}: ${handle}`);
  chmodSync(sock, 0o666);
  const self = fileURLToPath(import.meta.url);
  const children = Array.from({ length: n }, () => spawn(process.execPath, [self, '--child', ...flags], { stdio: ['ignore', 'inherit', 'inherit', handle.fd, 'ipc'] }));
  await Promise.all(children.map((c) => new Promise((r) => c.once('message', r))));
  process.stderr.write(`native-probe: ${n} processes on ${sock}\n`);
  process.on('SIGTERM', () => {
    children.forEach((c) => c.kill('SIGTERM'));
    void Promise.all(children.map((c) => new Promise((r) => c.once('exit', r)))).then(() => process.exit(0));
  });
}

async function startNativeProbe(root: string, flags: string[]): Promise<RunningStack> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nuwsgi-native-probe-'));
  chmodSync(dir, 0o755); // nginx's workers run as nobody
  const sock = path.join(dir, 'app.sock');
  const backend = await startBackend({
    cmd: process.execPath,
    args: [path.join(root, 'dist/bench/native-probe.js'), '--serve', sock, String(PROCESSES), ...flags],
    ready: /native-probe: \d+ processes/,
    stopSignal: 'SIGTERM',
    signalGroup: true,
  });
  const nginx = await startBenchNginx({ locations: `location / { include /etc/nginx/uwsgi_params; uwsgi_pass unix:${sock}; }` }, PROCESSES);
  return {
    id: 'c-ceiling', // the RunningStack type knows the bench's stacks only; this one is measured here alone
    nginx,
    workers: () => backend.workers(),
    backendPid: backend.pid,
    output: () => backend.output(),
    async stop() {
      await nginx.stop();
      await backend.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

interface Sample {
  label: string;
  rps: number;
  requests: number;
  errors: number;
  cpuUsPerRequest: number;
}

async function measure(label: string, stack: RunningStack, seconds: number, upload: boolean): Promise<Sample> {
  await waitServing(stack, '/hello');
  // upload: the bench's 100 KiB POST (bench/wrk/upload.lua), which nuwsgi serves from the first read.
  const load = { url: stack.nginx.baseUrl + (upload ? '/upload' : '/hello'), connections: 64, threads: 2, script: upload ? path.join(repoRoot(), 'bench/wrk/upload.lua') : undefined };
  await wrk({ ...load, seconds: 1 }); // warm up
  const pids = stack.workers();
  const cpu0 = sum(pids.map(cpuSeconds));
  const r = await wrk({ ...load, seconds });
  const cpu = sum(pids.map(cpuSeconds)) - cpu0;
  return { label, rps: r.rps, requests: r.requests, errors: r.errors, cpuUsPerRequest: (cpu / r.requests) * 1e6 };
}

/**
 * The probe as nuwsgi runs the addon (first reads in a pool, one worker woken per connection), the
 * probe without each of those, and the C responder.
 */
const VARIANTS: Record<string, string[] | undefined> = {
  'native, as nuwsgi': ['--pooled', '--exclusive'],
  'native, no pool': ['--exclusive'],
  'native, all woken': ['--pooled'],
  'C ceiling': undefined,
};
const LABELS = Object.keys(VARIANTS);

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 2);
  const seconds = Number(process.argv[3] ?? 5);
  const upload = process.argv[4] === 'upload';
  const root = repoRoot();
  loadAddon(); // fail here, clearly, when it is not built
  const ctx = { root, workers: PROCESSES, nginxWorkers: PROCESSES, ceilingBin: buildCeiling(root), payloadDir: await writePayloads(root) };
  const samples: Sample[] = [];
  for (let round = 1; round <= rounds; round++) {
    for (const which of LABELS) {
      const flags = VARIANTS[which];
      const stack = flags ? await startNativeProbe(root, flags) : await startStack('c-ceiling', 'bench', ctx);
      try {
        await sleep(200);
        const s = await measure(which, stack, seconds, upload);
        samples.push(s);
        console.log(`round ${round}  ${which.padEnd(18)}  ${s.rps.toFixed(0).padStart(7)} req/s  ${s.cpuUsPerRequest.toFixed(1).padStart(5)} µs CPU/request (backend)  ${s.errors ? `${s.errors} errors` : ''}`);
      } finally {
        await stack.stop();
      }
      const waited = [...stack.output().matchAll(/native-probe stats: (\d+) of (\d+)/g)];
      if (waited.length > 0) {
        const [w, n] = [sum(waited.map((m) => Number(m[1]))), sum(waited.map((m) => Number(m[2])))];
        console.log(`         ${which.padEnd(18)}  ${((100 * w) / n).toFixed(1)}% of ${n} connections had no data yet when accepted (a poll waited for it)`);
      }
    }
  }
  for (const label of LABELS) {
    const mine = samples.filter((s) => s.label === label);
    const rps = sum(mine.map((s) => s.rps)) / mine.length;
    const cpu = sum(mine.map((s) => s.cpuUsPerRequest)) / mine.length;
    console.log(`mean  ${label.padEnd(18)}  ${rps.toFixed(0).padStart(7)} req/s  ${cpu.toFixed(1).padStart(5)} µs CPU/request`);
  }
}

if (process.argv[2] === '--child') child(process.argv.includes('--pooled'), process.argv.includes('--exclusive'));
else if (process.argv[2] === '--serve') void serve(process.argv[3], Number(process.argv[4]), process.argv.slice(5));
else
  main().then(
    () => process.exit(0),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
