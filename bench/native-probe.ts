// How close the native fast path gets to the C ceiling, and where the rest of a request's cost
// goes: probe workers (2 processes, the addon on one shared listening unix socket, a fixed
// "Hello, World!" answer) built up layer by layer -- a bare callback, then nuwsgi's LiteSocket,
// then Node's IncomingMessage/ServerResponse, then nuwsgi's whole listener and bridge -- against
// bench/ceiling.c, all behind the bench's nginx with uwsgi_pass, measured with wrk, alternated so
// all see the same machine. Reports req/s and the backend's CPU per request (/proc utime + stime
// of the serving processes / requests): the difference between two layers is what the upper one
// costs when it runs between real syscalls, which a micro-benchmark in a loop understates.
//
//   npx tsc -p . && node dist/bench/native-probe.js [rounds=2] [seconds=5] [hello|upload]
//
// Internal modes (spawned by itself): --serve SOCKET N  (binds, forks N --child processes),
// --child [--layer=L --pooled --exclusive --drain] (serves the listening socket inherited as fd 3).

import { spawn } from 'node:child_process';
import { IncomingMessage, ServerResponse } from 'node:http';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startBackend } from './lib/backend.js';
import { startBenchNginx } from './lib/nginx.js';
import { HELLO as HELLO_TEXT } from './lib/payloads.js';
import { cpuSeconds, sum } from './lib/proc.js';
import { buildCeiling, repoRoot, sleep, waitServing, writePayloads } from './lib/setup.js';
import { startStack, type RunningStack } from './lib/stacks.js';
import { wrk } from './lib/wrk.js';
import { ADDON_PATH, type Acceptor, type NativeBinding } from '../src/native/binding.js';
import { FIRST_READ_BYTES, NativeUwsgiListener, POOL_BYTES, POOL_MIN_FREE } from '../src/server/native-listener.js';
import { makeDispatcher } from '../src/server/dispatch.js';
import { decodeVars } from '../src/protocol/vars.js';
import { asNetSocket, LiteSocket } from '../src/bridge/lite-socket.js';

/** The bench's hello world, as the bare callback writes it whole and the layers' app answers it. */
const HELLO = Buffer.from(HELLO_TEXT);
const RESPONSE = Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${HELLO.length}\r\n\r\n${HELLO_TEXT}`);
const PROCESSES = 2;

function loadAddon(): NativeBinding {
  return createRequire(import.meta.url)(ADDON_PATH) as NativeBinding;
}

/**
 * How far up the stack a probe worker answers, each layer on top of the one before:
 * - 'callback': the addon's onConnection writes a fixed response and ends, no objects at all;
 * - 'lite-socket': the same bytes written and ended through a LiteSocket (nuwsgi's Duplex);
 * - 'node-objects': Node's IncomingMessage and ServerResponse on that LiteSocket, the response
 *   made by writeHead() and end() as the app does, the socket destroyed on 'finish';
 * - 'listener': nuwsgi's NativeUwsgiListener and bridge (the packet decoded, the request built
 *   from its vars, dispatched through an http.Server) with the bench app's hello world, but none
 *   of a real worker's bookkeeping (in-flight tracking, counters, harakiri, heartbeats).
 */
type Layer = 'callback' | 'lite-socket' | 'node-objects' | 'listener';
const LAYERS: Layer[] = ['callback', 'lite-socket', 'node-objects', 'listener'];

/** The bench app's hello world. */
function hello(_req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': HELLO.length });
  res.end(HELLO);
}

/** The connection answered on a LiteSocket, with or without Node's request objects. */
function answerOnLiteSocket(b: NativeBinding, acc: Acceptor, id: number, layer: Layer): void {
  const socket = new LiteSocket(
    { write: (chunks) => b.write(acc, id, chunks), end: () => b.end(acc, id), destroy: () => b.destroy(acc, id), watch: () => b.watch(acc, id) },
    0,
  );
  socket.on('error', () => {}); // EPIPE from a front end that gave up, as serveWholeRequest ignores it
  if (layer === 'lite-socket') return void socket.end(RESPONSE);
  const req = new IncomingMessage(asNetSocket(socket));
  req.method = 'GET';
  req.url = '/hello';
  [req.httpVersionMajor, req.httpVersionMinor, req.httpVersion] = [1, 1, '1.1'];
  req.push(null);
  const res = new ServerResponse(req);
  // As nuwsgi's responses are: one request per connection, no Date.
  res.shouldKeepAlive = false;
  res.sendDate = false;
  res.assignSocket(asNetSocket(socket));
  res.on('finish', () => socket.destroy());
  hello(req, res);
}

/**
 * True when the first read holds the whole packet. Otherwise (an upload's body still coming) the
 * connection goes to a net.Socket that drops the rest of the body and then answers, as the C
 * responder reads and drops CONTENT_LENGTH bytes: answering first would reset the connection.
 */
function drainBody(b: NativeBinding, acc: Acceptor, id: number, data: Buffer): boolean {
  const blockEnd = 4 + data.readUInt16LE(1);
  const need = blockEnd + Number(decodeVars(data.subarray(4, blockEnd), 512).get('CONTENT_LENGTH') ?? 0);
  if (data.length >= need) return true;
  const fd = b.release(acc, id);
  if (fd < 0) return false;
  const socket = new net.Socket({ fd, readable: true, writable: true });
  let got = data.length;
  socket.on('error', () => {});
  socket.on('data', (chunk: Buffer) => {
    got += chunk.length;
    if (got >= need) socket.end(RESPONSE);
  });
  return false;
}

/**
 * A worker: the addon on fd 3 with nuwsgi's first-read size, answering at `layer`. `pooled`:
 * first reads land in a pool (setPool) sized and refreshed as nuwsgi's is, instead of a Buffer
 * each; `exclusive`: one worker woken per connection (EPOLLEXCLUSIVE); `drain` (the upload): the
 * bare callback reads the whole body before it answers (drainBody).
 */
function child(layer: Layer, pooled: boolean, exclusive: boolean, drain: boolean): void {
  const b = loadAddon();
  let acc: Acceptor | undefined;
  process.on('SIGTERM', () => {
    if (acc) {
      const { accepted, waited } = b.stats(acc);
      process.stderr.write(`native-probe stats: ${waited} of ${accepted} connections waited for a poll\n`);
    }
    process.exit(0);
  });
  process.send?.('ready');
  if (layer === 'listener') {
    const dispatch = makeDispatcher({ kind: 'node listener', listener: hello }, () => {}, () => {});
    const log = (line: string) => process.stderr.write(`${line}\n`);
    return void new NativeUwsgiListener(b, 3, 1024, { bufferSize: 4096, maxVars: 512, socketTimeoutMs: 4000, lingerMs: 5000, log, dispatch });
  }
  let pool = Buffer.allocUnsafeSlow(POOL_BYTES);
  acc = b.createAcceptor(
    3,
    {
      onConnection(id: number, data: Buffer | number, offset?: number) {
        const a = acc!;
        if (typeof data === 'number' && pool.length - offset! - data < POOL_MIN_FREE) b.setPool(a, (pool = Buffer.allocUnsafeSlow(POOL_BYTES)));
        if (layer !== 'callback') return answerOnLiteSocket(b, a, id, layer);
        if (drain && typeof data !== 'number' && !drainBody(b, a, id, data)) return;
        if (b.write(a, id, RESPONSE) !== 0 || !b.end(a, id)) b.destroy(a, id);
      },
      // The answer fits the socket buffer: nothing here waits for a flush or a close.
      onWritable() {},
      onPeerClose() {},
      onClosed() {},
    },
    { backlog: 1024, exclusive, readSize: FIRST_READ_BYTES },
  );
  if (pooled) b.setPool(acc, pool);
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
 * nuwsgi itself (the bench's stack: master, workers, the bench app), the layers top down, then the
 * bare callback as nuwsgi runs the addon (first reads in a pool, one worker woken per connection)
 * and without each of those, and the C responder. A string names one of the bench's stacks.
 */
const VARIANTS: Record<string, string[] | 'nuwsgi-uwsgi' | 'c-ceiling'> = {
  'nuwsgi worker': 'nuwsgi-uwsgi',
  "nuwsgi's listener": ['--layer=listener'],
  'Node req/res': ['--layer=node-objects', '--pooled', '--exclusive'],
  'LiteSocket': ['--layer=lite-socket', '--pooled', '--exclusive'],
  'native, as nuwsgi': ['--pooled', '--exclusive'],
  'native, no pool': ['--exclusive'],
  'native, all woken': ['--pooled'],
  'C ceiling': 'c-ceiling',
};
/** The layers answer hello world whatever was asked: with the upload they would not read the body. */
const HELLO_ONLY = new Set(["nuwsgi's listener", 'Node req/res', 'LiteSocket']);

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 2);
  const seconds = Number(process.argv[3] ?? 5);
  const upload = process.argv[4] === 'upload';
  const LABELS = Object.keys(VARIANTS).filter((label) => !upload || !HELLO_ONLY.has(label));
  const root = repoRoot();
  loadAddon(); // fail here, clearly, when it is not built
  const ctx = { root, workers: PROCESSES, nginxWorkers: PROCESSES, ceilingBin: buildCeiling(root), payloadDir: await writePayloads(root) };
  const samples: Sample[] = [];
  for (let round = 1; round <= rounds; round++) {
    for (const which of LABELS) {
      const flags = VARIANTS[which];
      const stack = Array.isArray(flags) ? await startNativeProbe(root, upload ? [...flags, '--drain'] : flags) : await startStack(flags, 'bench', ctx);
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

if (process.argv[2] === '--child') {
  const layer = (process.argv.find((a) => a.startsWith('--layer='))?.slice('--layer='.length) ?? 'callback') as Layer;
  if (!LAYERS.includes(layer)) throw new Error(`unknown layer ${layer}`);
  child(layer, process.argv.includes('--pooled'), process.argv.includes('--exclusive'), process.argv.includes('--drain'));
} else if (process.argv[2] === '--serve') void serve(process.argv[3], Number(process.argv[4]), process.argv.slice(5));
else
  main().then(
    () => process.exit(0),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
