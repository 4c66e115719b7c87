// npm run bench -- --profile: where the time of a request goes on the uwsgi path.
//  1. node --cpu-prof on the nuwsgi workers (a flag of the master, which its workers inherit) under a hello-world load: self and
//     inclusive time per function and per category, per request, and a flame graph.
//  2. strace -c -f on each stack's serving processes (and on nginx's workers) under the same load:
//     syscalls per request.
// Writes bench/results/profile.md and flamegraph.svg; raw profiles, folded stacks and strace
// reports go to bench/results/raw/<timestamp>-profile/.

import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Options } from '../run.js';
import { flameSvg, folded, mergeProfiles, summarize, type CpuProfile } from './cpuprofile.js';
import { describeMachine, machineLine } from './machine.js';
import { buildCeiling, sleep, waitQuiet, waitServing, writePayloads } from './setup.js';
import { startStack, type AppId, type BenchContext, type StackId } from './stacks.js';
import { shortLabel } from './report.js';
import { wrk } from './wrk.js';

const log = (line: string) => process.stderr.write(`[profile ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
const us = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));

interface Syscalls {
  stack: StackId;
  requests: number;
  backend: Map<string, number>;
  nginx: Map<string, number>;
}

/** Parses strace -c's table: syscall -> calls. */
function parseStrace(text: string): Map<string, number> {
  const calls = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?([a-z_0-9]+)\s*$/.exec(line);
    if (m && m[2] !== 'total') calls.set(m[2], (calls.get(m[2]) ?? 0) + Number(m[1]));
  }
  return calls;
}

async function strace(pids: number[], file: string): Promise<() => Promise<string>> {
  const child = spawn('strace', ['-c', '-f', '-o', file, ...pids.flatMap((p) => ['-p', String(p)])], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const deadline = Date.now() + 5000;
  while ((err.match(/attached/g)?.length ?? 0) < pids.length && Date.now() < deadline) await sleep(20);
  await sleep(200);
  return async () => {
    child.kill('SIGINT');
    await exited;
    return readFileSync(file, 'utf8');
  };
}

export async function runProfile(root: string, o: Options): Promise<void> {
  if (spawnSync('strace', ['-V']).status !== 0) throw new Error('strace not installed: apt-get install strace');
  // --workloads express profiles the Express app (GET /users/42) instead of hello world.
  const app: AppId = o.workloads.length === 1 && o.workloads[0] === 'express' ? 'express' : 'bench';
  const target = app === 'express' ? '/users/42' : '/hello';
  const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
  const raw = path.join(root, 'bench/results/raw', `${stamp}-profile`);
  const profDir = path.join(raw, 'cpuprof');
  mkdirSync(profDir, { recursive: true });
  const ctx: BenchContext = { root, workers: o.workers, nginxWorkers: os.availableParallelism(), ceilingBin: buildCeiling(root), payloadDir: await writePayloads(root) };
  const seconds = Math.max(o.seconds, 10);
  const hello = { connections: 64, threads: 2 };

  // 1. CPU profiles of the workers, on the uwsgi path and (for comparison) the HTTP path.
  const cpu: CpuResult[] = [];
  for (const id of ['nuwsgi-uwsgi', 'nuwsgi-http'] as StackId[]) {
    const dir = path.join(profDir, id);
    mkdirSync(dir, { recursive: true });
    log(`cpu profile: ${id}, hello world, ${seconds} s`);
    const profiled = await startStack(id, app, { ...ctx, nuwsgiNodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`] });
    let requests = 0;
    let rps = 0;
    let workers: number[] = [];
    try {
      await waitServing(profiled, target);
      await waitQuiet(o.quietMs);
      requests += (await wrk({ ...hello, url: profiled.nginx.baseUrl + target, seconds: 1 })).requests;
      const r = await wrk({ ...hello, url: profiled.nginx.baseUrl + target, seconds });
      requests += r.requests;
      rps = r.rps;
      workers = profiled.workers();
    } finally {
      await profiled.stop();
    }
    const files = readdirSync(dir).filter((f) => workers.some((p) => f.includes(`.${p}.`)) && f.endsWith('.cpuprofile'));
    if (files.length === 0) throw new Error(`no worker .cpuprofile in ${dir} (workers ${workers.join(', ')}): ${readdirSync(dir).join(', ')}`);
    const profiles = files.map((f) => JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as CpuProfile);
    const { root: tree, idleUs, wallUs } = mergeProfiles(profiles);
    const name = id === 'nuwsgi-uwsgi' ? 'uwsgi' : 'http';
    writeFileSync(path.join(raw, `${name}-path.folded`), folded(tree));
    const what = id === 'nuwsgi-uwsgi' ? 'the uwsgi path (uwsgi_pass, unix socket, a connection per request)' : 'the HTTP path (--http-socket, proxy_pass keepalive)';
    writeFileSync(path.join(raw, `flamegraph-${name}.svg`), flameSvg(tree, `nuwsgi workers on ${what}, hello world: ${us(tree.total / requests)} µs of CPU per request (idle excluded)`));
    cpu.push({ stack: id, name, requests, rps, activeUs: tree.total, idleUs, wallUs, sum: summarize(tree) });
    log(`  ${requests} requests, ${us(tree.total / requests)} µs active per request; ${files.length} worker profiles`);
  }

  // 2. strace -c -f: syscalls per request, backend and nginx.
  const stacks: StackId[] = app === 'express' ? [] : ['nuwsgi-uwsgi', 'nuwsgi-http', 'node-cluster', 'uwsgi-python', 'c-ceiling'];
  const syscalls: Syscalls[] = [];
  for (const id of stacks) {
    log(`strace -c -f: ${id}`);
    const stack = await startStack(id, 'bench', ctx);
    try {
      await waitServing(stack, '/hello');
      await wrk({ ...hello, url: stack.nginx.baseUrl + '/hello', seconds: 1 });
      await waitQuiet(o.quietMs);
      const pids = stack.backendPid ? [stack.backendPid, ...stack.workers()] : stack.workers();
      const stopBackend = await strace(pids, path.join(raw, `strace-${id}.txt`));
      const stopNginx = await strace(stack.nginx.workers(), path.join(raw, `strace-${id}-nginx.txt`));
      const r = await wrk({ ...hello, url: stack.nginx.baseUrl + '/hello', seconds: 5 });
      syscalls.push({ stack: id, requests: r.requests, backend: parseStrace(await stopBackend()), nginx: parseStrace(await stopNginx()) });
    } finally {
      await stack.stop();
    }
  }
  await rm(ctx.payloadDir, { recursive: true, force: true });

  const md = report({ machine: machineLine(describeMachine(root)), seconds, cpu, syscalls });
  writeFileSync(path.join(raw, 'profile.md'), md);
  // The committed profile is the hello-world one; others stay in raw/ unless --out says otherwise.
  const out = o.out ?? (app === 'bench' ? path.join(root, 'bench/results') : raw);
  mkdirSync(out, { recursive: true });
  if (out !== raw) copyFileSync(path.join(raw, 'profile.md'), path.join(out, 'profile.md'));
  if (out !== raw) for (const c of cpu) copyFileSync(path.join(raw, `flamegraph-${c.name}.svg`), path.join(out, `flamegraph-${c.name}.svg`));
  process.stdout.write(md);
  log(`wrote ${path.relative(root, out)}/profile.md and flamegraph-*.svg; raw in ${path.relative(root, raw)}`);
}

interface CpuResult {
  stack: StackId;
  name: string;
  requests: number;
  rps: number;
  activeUs: number;
  idleUs: number;
  wallUs: number;
  sum: ReturnType<typeof summarize>;
}

interface ReportInput {
  machine: string;
  seconds: number;
  cpu: CpuResult[];
  syscalls: Syscalls[];
}

function report(x: ReportInput): string {
  const [u, h] = x.cpu;
  const per = (c: CpuResult, v: number | undefined) => (v === undefined ? '' : us(v / c.requests));
  const pct = (c: CpuResult, v: number) => `${((v / c.activeUs) * 100).toFixed(1)}%`;
  const catU = new Map(u.sum.byCategory);
  const catH = new Map(h.sum.byCategory);
  const cats = [...new Set([...catU.keys(), ...catH.keys()])]
    .map((c) => ({ c, u: catU.get(c) ?? 0, h: catH.get(c) ?? 0 }))
    .filter((r) => r.u / u.activeUs >= 0.005 || r.h / h.activeUs >= 0.005)
    .sort((a, b) => b.u / u.requests - a.u / u.requests);
  const ownTotal = (c: CpuResult) => c.sum.byCategory.filter(([k]) => k.startsWith('nuwsgi')).reduce((a, [, v]) => a + v, 0);
  const inclusive = u.sum.total.filter(([name]) => /dist\/src\/|_http_|node:net|stream_base|writev|close|shutdown|Socket /.test(name)).slice(0, 30);

  const syscallNames = new Set<string>();
  for (const s of x.syscalls) for (const m of [s.backend, s.nginx]) for (const [k, v] of m) if (v / s.requests >= 0.05) syscallNames.add(k);
  const names = [...syscallNames].sort();
  const perReq = (m: Map<string, number>, k: string, n: number) => {
    const v = (m.get(k) ?? 0) / n;
    return v ? v.toFixed(2) : '';
  };
  const total = (m: Map<string, number>, n: number) => ([...m.values()].reduce((a, b) => a + b, 0) / n).toFixed(1);
  const intro = (c: CpuResult) =>
    `${c.requests} requests at ${Math.round(c.rps)} req/s (profiler on); the workers were busy (not idle in epoll) ${(c.activeUs / 1e6).toFixed(2)} s: ` +
    `**${per(c, c.activeUs)} µs per request**, ${per(c, ownTotal(c))} µs of it in nuwsgi's own code (dist/src, self time)`;

  return `# Profile of the uwsgi path

Made by \`npm run bench -- --profile\` on ${x.machine}.

## CPU: node --cpu-prof on the nuwsgi workers

Hello world through nginx, wrk -t2 -c64, ${x.seconds} s after a 1 s warm-up, with the profiler on (it costs throughput).

- uwsgi path (\`uwsgi_pass\`, unix socket, one connection per request): ${intro(u)}.
- HTTP path (\`--http-socket\`, \`proxy_pass\` with keepalive): ${intro(h)}.

The profiler samples the main thread's wall clock: a syscall's time includes any wait for the CPU it causes. On a
2-core box each \`writev\` wakes an nginx worker that then runs on the writer's core, so \`writev\` looks far costlier
than the copy it does (most of all on the HTTP path, whose busy time is inflated the same way). For CPU per request
use results.md (from /proc), which counts only CPU time.

Flame graphs: [uwsgi path](flamegraph-uwsgi.svg), [HTTP path](flamegraph-http.svg) (idle excluded; folded stacks in raw/).

### Self time by category (µs per request)

| category | uwsgi path | share | HTTP path | share |
|---|---:|---:|---:|---:|
${cats.map((r) => `| ${r.c} | ${per(u, r.u)} | ${pct(u, r.u)} | ${per(h, r.h)} | ${pct(h, r.h)} |`).join('\n')}
| **busy total** | **${per(u, u.activeUs)}** | | **${per(h, h.activeUs)}** | |

### uwsgi path: top functions by self time

| function | µs/request | share | category |
|---|---:|---:|---|
${u.sum.self.slice(0, 30).map(([n, v]) => `| \`${n}\` | ${per(u, v.us)} | ${pct(u, v.us)} | ${v.category} |`).join('\n')}

### uwsgi path: inclusive time along the request (µs per request)

| function | µs/request | share |
|---|---:|---:|
${inclusive.map(([n, v]) => `| \`${n}\` | ${per(u, v.us)} | ${pct(u, v.us)} |`).join('\n')}

## Syscalls per request (strace -c -f, hello world, 5 s)

Backend = the server's master/primary and workers; nginx = its workers. strace slows everything down, but
counts per request stay meaningful (except epoll_wait, which depends on how busy the loop is).

| syscall | ${x.syscalls.map((s) => `${shortLabel(s.stack)}`).join(' | ')} | ${x.syscalls.map((s) => `nginx for ${shortLabel(s.stack)}`).join(' | ')} |
|---|${x.syscalls.map(() => '---:').join('|')}|${x.syscalls.map(() => '---:').join('|')}|
${names.map((k) => `| ${k} | ${x.syscalls.map((s) => perReq(s.backend, k, s.requests)).join(' | ')} | ${x.syscalls.map((s) => perReq(s.nginx, k, s.requests)).join(' | ')} |`).join('\n')}
| **total** | ${x.syscalls.map((s) => `**${total(s.backend, s.requests)}**`).join(' | ')} | ${x.syscalls.map((s) => `**${total(s.nginx, s.requests)}**`).join(' | ')} |
`;
}
