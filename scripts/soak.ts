// Soak: a long run of ordinary requests through nginx, watching the server for leaks. The real
// CLI (master + workers, request log to a file) behind the real nginx on loopback, driven by
// keep-alive clients at a moderate concurrency: GETs, small POSTs whose body must come back
// hashed right, and 64 KiB downloads. Every --sample-every requests it samples the RSS and open
// fds (/proc/PID/fd) of the master and each worker, and prints the curve as a table. It fails
// (exit 1) when a request fails, a worker is replaced, or RSS or fds grow past the bounds
// between the end of warm-up and the end of the run.
//
// Usage: npm run soak -- [--requests N] [--concurrency N] [--processes N] [--sample-every N]
//          [--max-minutes M] [--rss-growth-mb MB] [--fd-growth N] [--warmup N]
// Defaults: 1,000,000 requests, concurrency 32, 2 workers, a sample every 50,000, at most 14
// minutes (the run stops at the bound, says so, and is judged on what it did), warm-up 100,000.

import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startNginx } from '../test/helpers/nginx.js';
import { readLog } from '../test/helpers/peers.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const value = Number(process.argv[i + 1]);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} takes a positive number`);
  return value;
}

const REQUESTS = option('requests', 1_000_000);
const CONCURRENCY = option('concurrency', 32);
const PROCESSES = option('processes', 2);
const SAMPLE_EVERY = option('sample-every', 50_000);
const MAX_MS = option('max-minutes', 14) * 60_000;
const RSS_GROWTH_MB = option('rss-growth-mb', 32);
const FD_GROWTH = option('fd-growth', 8);
const WARMUP = Math.min(option('warmup', 100_000), Math.floor(REQUESTS / 4));

const MB = 1024 * 1024;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function rss(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

const fds = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;

interface Sample {
  requests: number;
  seconds: number;
  rate: number;
  errors: number;
  /** [rss bytes, fds] per process: master first, then the workers. */
  procs: [number, number][];
}

async function main(): Promise<number> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nuwsgi-soak-'));
  chmodSync(dir, 0o755);
  const socket = path.join(dir, 'soak.sock');
  const logFile = path.join(dir, 'nuwsgi.log');
  const server = spawn(
    process.execPath,
    [path.join(ROOT, 'bin/nuwsgi.js'), '--socket', socket, '--chmod-socket=666', '--processes', String(PROCESSES), '--logto', logFile, path.join(ROOT, 'test/apps/hard-app.mjs')],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  const log = () => readLog(logFile);
  let nginx: Awaited<ReturnType<typeof startNginx>> | undefined;
  const cleanup = async () => {
    await nginx?.stop();
    if (server.exitCode === null) {
      server.kill('SIGTERM');
      await new Promise((resolve) => server.once('exit', resolve));
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const deadline = Date.now() + 30_000;
    while (!/nuwsgi is ready/.test(log())) {
      if (server.exitCode !== null || Date.now() > deadline) throw new Error(`nuwsgi did not start:\n${log()}`);
      await sleep(50);
    }
    const workerPids = () => [...log().matchAll(/spawned nuwsgi worker \d+ \(pid: (\d+)\)/g)].map((m) => Number(m[1]));
    const workers = workerPids();
    const pids = [server.pid!, ...workers];
    nginx = await startNginx({ upstream: `unix:${socket}` });
    const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    const body = randomBytes(1024);
    const bodySha = createHash('sha256').update(body).digest('hex');

    const request = (n: number): Promise<string | undefined> =>
      new Promise((resolve) => {
        const kind = n % 20;
        const post = kind < 3;
        const big = kind === 3;
        const pathAndQuery = post ? `/body?n=${n}` : big ? `/big?blocks=1&n=${n}` : `/?n=${n}`;
        const req = http.request(`${nginx!.baseUrl}${pathAndQuery}`, { method: post ? 'POST' : 'GET', agent, headers: post ? { 'Content-Length': String(body.length) } : {} }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', (e) => resolve(`${pathAndQuery}: ${e.message}`));
          res.on('end', () => {
            const got = Buffer.concat(chunks);
            if (res.statusCode !== 200) return resolve(`${pathAndQuery}: status ${res.statusCode}`);
            if (post && (JSON.parse(got.toString()) as { sha256: string }).sha256 !== bodySha) return resolve(`${pathAndQuery}: body hash differs`);
            if (big && got.length !== 65536) return resolve(`${pathAndQuery}: ${got.length} bytes`);
            if (!post && !big && !got.toString().startsWith(`n=${n} pid=`)) return resolve(`${pathAndQuery}: ${got.toString().slice(0, 80)}`);
            resolve(undefined);
          });
        });
        req.setTimeout(30_000, () => req.destroy(new Error('timed out')));
        req.on('error', (e) => resolve(`${pathAndQuery}: ${e.message}`));
        req.end(post ? body : undefined);
      });

    const started = Date.now();
    const samples: Sample[] = [];
    const errors: string[] = [];
    let next = 0;
    let done = 0;
    let stoppedByTime = false;
    /** The last sample is taken after the load stops and the connections have closed. */
    let settled = false;
    const sample = () => {
      const seconds = (Date.now() - started) / 1000;
      const previous = samples.at(-1);
      const rate = previous ? (done - previous.requests) / (seconds - previous.seconds) : done / seconds;
      const s: Sample = { requests: done, seconds, rate, errors: errors.length, procs: pids.map((pid) => [rss(pid), fds(pid)]) };
      samples.push(s);
      printRow(s);
    };
    console.log(`soak: ${REQUESTS} requests through nginx at concurrency ${CONCURRENCY}, ${PROCESSES} workers, sampled every ${SAMPLE_EVERY} (bounded at ${MAX_MS / 60_000} min)`);
    const header = ['requests', 'secs', 'req/s', 'errors', 'master MB', 'fds', ...workers.flatMap((_, i) => [`w${i + 1} MB`, 'fds'])];
    console.log(`| ${header.join(' | ')} |`);
    console.log(`|${header.map(() => '---:').join('|')}|`);
    const printRow = (s: Sample) =>
      console.log(`| ${[settled ? `${s.requests} (idle)` : s.requests, s.seconds.toFixed(0), settled ? '-' : s.rate.toFixed(0), s.errors, ...s.procs.flatMap(([r, f]) => [(r / MB).toFixed(1), f])].join(' | ')} |`);
    sample();
    const client = async () => {
      while (next < REQUESTS) {
        if (Date.now() - started > MAX_MS) {
          stoppedByTime = true;
          return;
        }
        const n = next++;
        const error = await request(n);
        if (error && errors.length < 1000) errors.push(error);
        done++;
        if (done % SAMPLE_EVERY === 0) sample();
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, client));
    agent.destroy();
    // Let lingering connections close, then the last sample (fds are judged on this one).
    await sleep(2000);
    if (samples.at(-1)!.requests === done) samples.pop();
    settled = true;
    sample();

    // ---- verdict ----
    const failures: string[] = [];
    if (stoppedByTime) console.log(`\nstopped at the time bound (${MAX_MS / 60_000} min) after ${done} of ${REQUESTS} requests`);
    if (errors.length > 0) failures.push(`${errors.length} requests failed, e.g. ${errors.slice(0, 3).join('; ')}`);
    if (workerPids().length !== workers.length || /DAMN|uncaught exception/.test(log())) failures.push('a worker died or was replaced during the soak');
    const afterWarmup = samples.filter((s) => s.requests >= WARMUP);
    const names = ['master', ...workers.map((pid, i) => `worker ${i + 1} (pid ${pid})`)];
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    if (afterWarmup.length >= 2) {
      const first = afterWarmup.slice(0, 3);
      const last = afterWarmup.slice(-3);
      console.log(`\nfrom the end of warm-up (${afterWarmup[0].requests} requests) to the end (${done}):`);
      names.forEach((name, i) => {
        const growth = median(last.map((s) => s.procs[i][0])) - median(first.map((s) => s.procs[i][0]));
        // Least-squares slope of RSS over requests, for the record.
        const xs = afterWarmup.map((s) => s.requests);
        const ys = afterWarmup.map((s) => s.procs[i][0]);
        const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
        const my = ys.reduce((a, b) => a + b, 0) / ys.length;
        const slope = xs.reduce((a, x, k) => a + (x - mx) * (ys[k] - my), 0) / (xs.reduce((a, x) => a + (x - mx) ** 2, 0) || 1);
        // fds are compared at rest: before the load, and after it once connections have closed.
        const fdGrowth = samples.at(-1)!.procs[i][1] - samples[0].procs[i][1];
        console.log(`  ${name}: RSS ${growth >= 0 ? '+' : ''}${(growth / MB).toFixed(1)} MB (slope ${slope.toFixed(2)} bytes/request), fds ${fdGrowth >= 0 ? '+' : ''}${fdGrowth}`);
        if (growth > RSS_GROWTH_MB * MB) failures.push(`${name}: RSS grew ${(growth / MB).toFixed(1)} MB (bound ${RSS_GROWTH_MB} MB)`);
        if (fdGrowth > FD_GROWTH) failures.push(`${name}: ${fdGrowth} more fds (bound ${FD_GROWTH})`);
      });
    } else {
      console.log(`\ntoo few samples after warm-up (${WARMUP} requests) to judge growth: run more requests`);
      failures.push('too few samples to judge');
    }
    const seconds = (Date.now() - started) / 1000;
    console.log(`\n${done} requests in ${seconds.toFixed(0)} s (${(done / seconds).toFixed(0)} req/s), ${errors.length} errors`);
    if (failures.length > 0) {
      console.log(`\nSOAK FAILED:\n  ${failures.join('\n  ')}`);
      return 1;
    }
    console.log('\nsoak passed: no failed request, no worker replaced, RSS and fds flat within bounds');
    return 0;
  } finally {
    await cleanup();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
