// Measures the two ways a connection can reach a worker, with a bare uwsgi responder (no request
// objects, so only the connection path is measured) behind the same real nginx:
//   shared  - the master binds the socket, workers inherit the fd and accept themselves (nuwsgi)
//   cluster - node:cluster round-robin: the master accepts and passes each connection to a worker
// Usage: npm run build && node dist/bench/accept-models.js [seconds] [workers]
// Prints a Markdown table; needs nginx and wrk (Debian packages nginx-light, wrk).

import { execFile, execFileSync, fork } from 'node:child_process';
import { promisify } from 'node:util';
import cluster from 'node:cluster';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startNginx } from '../test/helpers/nginx.js';

const RESPONSE = Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n\r\nHello, World!\n');

/** Read the 4-byte header and the var block, answer, close: the cheapest correct uwsgi server. */
function respond(socket: net.Socket): void {
  let got = 0;
  let need = -1;
  socket.on('data', (chunk: Buffer) => {
    if (need === -1 && got === 0 && chunk.length >= 4) need = 4 + chunk.readUInt16LE(1);
    got += chunk.length;
    if (need !== -1 && got >= need) socket.end(RESPONSE);
  });
  socket.on('error', () => {});
}

function runWorker(): void {
  const server = net.createServer(respond);
  if (process.env.BENCH_FD) server.listen({ fd: Number(process.env.BENCH_FD) }, 1024);
  else server.listen({ path: process.env.BENCH_PATH!, backlog: 1024 });
  server.on('listening', () => process.send?.('ready'));
}

async function startModel(model: string, socketPath: string, workers: number): Promise<() => void> {
  const self = fileURLToPath(import.meta.url);
  if (model === 'shared') {
    const createServerHandle = (net as unknown as { _createServerHandle(p: string, a: number, b: number): { fd: number; close(): void } })._createServerHandle;
    const handle = createServerHandle(socketPath, -1, -1);
    const children = Array.from({ length: workers }, () =>
      fork(self, ['worker'], { stdio: ['inherit', 'inherit', 'inherit', 'ipc', handle.fd], env: { ...process.env, BENCH_FD: '4' } }),
    );
    await Promise.all(children.map((c) => new Promise((r) => c.once('message', r))));
    return () => {
      children.forEach((c) => c.kill());
      handle.close();
    };
  }
  cluster.setupPrimary({ exec: self, args: ['worker'] });
  cluster.schedulingPolicy = cluster.SCHED_RR;
  const children = Array.from({ length: workers }, () => cluster.fork({ BENCH_PATH: socketPath }));
  await Promise.all(children.map((c) => new Promise((r) => c.once('message', r))));
  return () => children.forEach((c) => c.kill());
}

/** Asynchronous: under cluster round-robin this very process accepts the connections. */
async function wrk(url: string, seconds: number): Promise<number> {
  const { stdout } = await promisify(execFile)('wrk', ['-t2', '-c64', `-d${seconds}s`, url]);
  return Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)![1]);
}

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? 5);
  const workers = Number(process.argv[3] ?? 2);
  const results: Record<string, number[]> = { shared: [], cluster: [] };
  for (let round = 0; round < 3; round++) {
    for (const model of ['shared', 'cluster']) {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'nuwsgi-bench-'));
      execFileSync('chmod', ['755', dir]);
      const socketPath = path.join(dir, 'bench.sock');
      const stop = await startModel(model, socketPath, workers);
      execFileSync('chmod', ['666', socketPath]);
      const nginx = await startNginx({ upstream: `unix:${socketPath}` });
      await wrk(nginx.baseUrl + '/', 1); // warm-up
      results[model].push(await wrk(nginx.baseUrl + '/', seconds));
      await nginx.stop();
      stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const shared = median(results.shared);
  console.log(`| model (${workers} workers, ${os.availableParallelism()} cores, wrk -c64 through nginx) | req/s (median of 3) | ratio |`);
  console.log('|---|---|---|');
  for (const model of ['shared', 'cluster']) {
    const m = median(results[model]);
    console.log(`| ${model} | ${m.toFixed(0)} | ${(m / shared).toFixed(2)} |`);
  }
  process.exit(0);
}

if (process.argv[2] === 'worker' || cluster.isWorker) runWorker();
else void main();
