// npm run bench [-- --quick | --rounds N --seconds N --warmup N --workers N --stacks a,b --workloads a,b
//                    --no-memory --max-quiet-wait S --out DIR | --report results.json | --profile]
//
// Issue 8's benchmark: starts each stack itself behind the same nginx (worker_processes = cores),
// loads it with wrk, alternates the stacks round by round (the order also rotates, so no stack is
// always first or last), and writes medians as a Markdown table and an SVG chart.
// Full run: 3 rounds x 5 s per workload, about 12 minutes on a quiet 2-core machine (before each load
// it waits up to --max-quiet-wait seconds, 4 minutes in all, for other processes to leave the CPU);
// --quick: 1 round x 3 s, about 5.
// Results: bench/results/results.md + chart.svg (full runs of every stack only, unless --out DIR), and
// every wrk report, process log and results.json under bench/results/raw/<timestamp>/ (gitignored).
// --report re-renders a results.json's report in place. --profile instead profiles the uwsgi path
// (node --cpu-prof on the workers, strace -c -f): bench/results/profile.md and flame graphs.

import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describeMachine, machineLine } from './lib/machine.js';
import { bigDownload, bigUpload, type Transfer } from './lib/memory.js';
import { cpuSeconds, machineCpu, mean, pssKiB, reapedChildrenCpu, rssKiB } from './lib/proc.js';
import { request } from './lib/http.js';
import { buildCeiling, checkTools, repoRoot, sleep, waitQuiet, waitServing, writePayloads } from './lib/setup.js';
import { writeReports, type MemoryRow, type Results, type Sample } from './lib/report.js';
import { STACKS, startStack, type AppId, type BenchContext, type RunningStack, type StackId } from './lib/stacks.js';
import { WORKLOADS, type Workload, type WorkloadId } from './lib/workloads.js';
import { wrk } from './lib/wrk.js';

export interface Options {
  quick: boolean;
  rounds: number;
  seconds: number;
  warmup: number;
  workers: number;
  stacks: StackId[];
  workloads: WorkloadId[];
  memory: boolean;
  profile: boolean;
  out?: string;
  /** Re-render the report of this results.json and exit. */
  report?: string;
  /** Longest wait, before each load, for other processes to leave the CPU (0: never wait). */
  quietMs: number;
}

function parseArgs(argv: string[]): Options {
  const quick = argv.includes('--quick');
  const value = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const list = <T extends string>(name: string, all: readonly T[]): T[] => {
    const v = value(name);
    if (!v) return [...all];
    const picked = v.split(',') as T[];
    for (const p of picked) if (!all.includes(p)) throw new Error(`${name}: unknown "${p}" (one of ${all.join(', ')})`);
    return picked;
  };
  const known = new Set(['--quick', '--rounds', '--seconds', '--warmup', '--workers', '--stacks', '--workloads', '--no-memory', '--profile', '--out', '--max-quiet-wait', '--report']);
  for (const a of argv) if (a.startsWith('--') && !known.has(a)) throw new Error(`unknown option ${a}`);
  return {
    quick,
    rounds: Number(value('--rounds') ?? (quick ? 1 : 3)),
    seconds: Number(value('--seconds') ?? (quick ? 3 : 5)),
    warmup: Number(value('--warmup') ?? 1),
    workers: Number(value('--workers') ?? os.availableParallelism()),
    stacks: list('--stacks', STACKS.map((s) => s.id)),
    workloads: list('--workloads', WORKLOADS.map((w) => w.id)),
    memory: !argv.includes('--no-memory'),
    profile: argv.includes('--profile'),
    out: value('--out'),
    report: value('--report'),
    quietMs: Number(value('--max-quiet-wait') ?? 20) * 1000,
  };
}

const log = (line: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

/** One request that must come back right before a stack is loaded: a broken stack would show 502s at record speed. */
async function check(stack: RunningStack, w: Workload): Promise<void> {
  const body = w.requestBytes ? Buffer.alloc(w.requestBytes, 'u') : undefined;
  const reply = await request(stack.nginx.baseUrl + w.path, w.method, body);
  if (reply.status !== 200 || !w.expect(reply.body)) {
    throw new Error(`${stack.id} ${w.id}: ${w.method} ${w.path} answered ${reply.status} ${JSON.stringify(reply.body.subarray(0, 200).toString())}\n${stack.nginx.errorLog()}\n${stack.output()}`);
  }
}

interface Unit {
  stack: StackId;
  app: AppId;
  workloads: Workload[];
}

function units(o: Options): Unit[] {
  const out: Unit[] = [];
  for (const app of ['bench', 'express'] as AppId[]) {
    for (const s of STACKS) {
      if (!o.stacks.includes(s.id) || !s.apps.includes(app)) continue;
      const ws = WORKLOADS.filter((w) => w.app === app && w.stacks.includes(s.id) && o.workloads.includes(w.id));
      if (ws.length) out.push({ stack: s.id, app, workloads: ws });
    }
  }
  return out;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  checkTools();
  const root = repoRoot();
  if (o.report) {
    // Re-render a finished run's report (after a change to the report code), in place.
    const results = JSON.parse(readFileSync(o.report, 'utf8')) as Results;
    process.stdout.write(writeReports(results, path.dirname(o.report)).markdown);
    return;
  }
  if (o.profile) {
    const { runProfile } = await import('./lib/profile.js');
    return runProfile(root, o);
  }
  const started = Date.now();
  const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
  const rawDir = path.join(root, 'bench/results/raw', `${stamp}-${o.quick ? 'quick' : 'full'}`);
  mkdirSync(rawDir, { recursive: true });
  const ctx: BenchContext = {
    root,
    workers: o.workers,
    nginxWorkers: os.availableParallelism(),
    ceilingBin: buildCeiling(root),
    payloadDir: await writePayloads(root),
  };
  const plan = units(o);
  const runs = plan.reduce((n, u) => n + u.workloads.length, 0);
  const estimate = o.rounds * (runs * (o.seconds + o.warmup + 0.6) + plan.length * 2) + (o.memory ? 40 : 0);
  log(`${o.rounds} rounds x ${runs} runs (${plan.length} stack starts per round), ${o.seconds} s each after ${o.warmup} s warm-up: about ${Math.ceil(estimate / 60)} min`);
  log(`raw output: ${path.relative(root, rawDir)}`);

  const machine = describeMachine(root);
  const results: Results = {
    mode: o.quick ? 'quick' : 'full',
    startedAt: new Date(started).toISOString(),
    elapsedS: 0,
    rounds: o.rounds,
    seconds: o.seconds,
    warmup: o.warmup,
    workers: o.workers,
    nginxWorkers: ctx.nginxWorkers,
    threads: 2,
    machine,
    samples: {},
    idleKiB: {},
    memory: [],
  };

  // Waiting for a quiet machine is bounded per load and in total, so the run stays bounded in time.
  let quietBudget = o.quietMs > 0 ? 240_000 : 0;
  for (let round = 0; round < o.rounds; round++) {
    const order = plan.map((_, i) => plan[(i + round) % plan.length]);
    for (const unit of order) {
      log(`round ${round + 1}/${o.rounds}: ${unit.stack}${unit.app === 'express' ? ' (Express app)' : ''}`);
      const stack = await startStack(unit.stack, unit.app, ctx);
      try {
        await waitServing(stack, unit.workloads[0].path === '/upload' ? '/hello' : unit.workloads[0].path);
        await sleep(300);
        if (unit.app === 'bench') (results.idleKiB[unit.stack] ??= []).push(mean(stack.workers().map(rssKiB)));
        for (const w of unit.workloads) {
          await check(stack, w);
          const url = stack.nginx.baseUrl + w.path;
          const script = w.script ? path.join(root, 'bench/wrk', w.script) : undefined;
          const load = { url, connections: w.connections, threads: 2, timeout: w.timeout, script };
          const waited = await waitQuiet(Math.min(o.quietMs, quietBudget));
          quietBudget = Math.max(0, quietBudget - waited);
          if (waited > 1000) log(`  waited ${(waited / 1000).toFixed(1)} s for other processes to quieten`);
          // A warm-up at full concurrency would leave a queue behind on the synchronous peers (200 requests
          // of 50 ms on 2 workers is 5 s of backlog) that the measured seconds would then inherit.
          await wrk({ ...load, connections: Math.min(load.connections, 64), seconds: o.warmup, ...(w.id === 'async' && { connections: 4 }) });
          const workers = stack.workers();
          // The backend's CPU includes its master or primary (node:cluster's accepts there).
          const backend = stack.backendPid ? [stack.backendPid, ...workers] : [];
          const nginxWorkers = stack.nginx.workers();
          const cpu0 = backend.map(cpuSeconds);
          const ngx0 = nginxWorkers.map(cpuSeconds);
          const machine0 = machineCpu();
          const wrk0 = reapedChildrenCpu();
          const self0 = process.cpuUsage();
          const r = await wrk({ ...load, seconds: o.seconds });
          const cpu = backend.reduce((s, p, i) => s + cpuSeconds(p) - cpu0[i], 0);
          const ngx = nginxWorkers.reduce((s, p, i) => s + cpuSeconds(p) - ngx0[i], 0);
          const machine1 = machineCpu();
          const self = process.cpuUsage(self0);
          const ours = cpu + ngx + (reapedChildrenCpu() - wrk0) + (self.user + self.system) / 1e6;
          const foreignShare = Math.max(0, (machine1.busy - machine0.busy - ours) / (machine1.total - machine0.total));
          const rawFile = `r${round + 1}-${w.id}-${unit.stack}.txt`;
          writeFileSync(path.join(rawDir, rawFile), r.raw);
          const { raw: _raw, ...numbers } = r;
          const sample: Sample = {
            round: round + 1,
            ...numbers,
            rssKiB: workers.map(rssKiB),
            pssKiB: workers.map(pssKiB),
            backendCpuUsPerReq: backend.length ? (cpu / r.requests) * 1e6 : NaN,
            foreignShare,
            nginxCpuUsPerReq: (ngx / r.requests) * 1e6,
          };
          (results.samples[`${w.id}/${unit.stack}`] ??= []).push(sample);
          log(`  ${w.id.padEnd(8)} ${r.rps.toFixed(0).padStart(7)} req/s  p50 ${r.p50.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms  rss ${(mean(sample.rssKiB) / 1024).toFixed(1)} MiB  others ${(foreignShare * 100).toFixed(0)}% cpu${r.errors ? `  ERRORS: ${r.errorText}` : ''}`);
        }
      } finally {
        writeFileSync(path.join(rawDir, `r${round + 1}-${unit.stack}-${unit.app}.log`), `${stack.output()}\n--- nginx error.log ---\n${stack.nginx.errorLog()}`);
        await stack.stop();
      }
    }
  }

  if (o.memory) {
    for (const id of ['nuwsgi-uwsgi', 'nuwsgi-uwsgi-ts', 'nuwsgi-http', 'node-cluster', 'uwsgi-python'] as StackId[]) {
      if (!o.stacks.includes(id)) continue;
      log(`memory: 64 MiB each way through ${id}`);
      const stack = await startStack(id, 'bench', ctx);
      try {
        await waitServing(stack, '/hello');
        await sleep(300);
        const idle = mean(stack.workers().map(rssKiB));
        const up: Transfer = await bigUpload(stack);
        const down: Transfer = await bigDownload(stack);
        const row: MemoryRow = { stack: id, idleKiB: idle, upload: up, download: down };
        results.memory.push(row);
        log(`  idle ${(idle / 1024).toFixed(1)} MiB/worker, upload +${up.growthMiB.toFixed(1)} MiB, download +${down.growthMiB.toFixed(1)} MiB`);
      } finally {
        await stack.stop();
      }
    }
  }
  await rm(ctx.payloadDir, { recursive: true, force: true });

  results.elapsedS = Math.round((Date.now() - started) / 1000);
  writeFileSync(path.join(rawDir, 'results.json'), JSON.stringify(results, null, 2));
  const { markdown } = writeReports(results, rawDir);
  // The committed results are full runs; a quick or partial run stays in raw/ unless --out says otherwise.
  const partial = o.stacks.length < STACKS.length || o.workloads.length < WORKLOADS.length;
  const out = o.out ?? (o.quick || partial ? undefined : path.join(root, 'bench/results'));
  if (out) {
    mkdirSync(out, { recursive: true });
    for (const f of ['results.md', 'chart.svg']) copyFileSync(path.join(rawDir, f), path.join(out, f));
  }
  process.stdout.write(markdown);
  log(`done in ${Math.floor(results.elapsedS / 60)} min ${results.elapsedS % 60} s; ${out ? `wrote ${path.relative(root, out)}/results.md and chart.svg` : `report in ${path.relative(root, rawDir)}`}`);
  log(`machine: ${machineLine(machine)}`);
}

// Ctrl-C or a kill: leave through process.exit so the 'exit' hooks SIGKILL every nginx and backend group.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    log(`${signal}: stopping every stack`);
    process.exit(130);
  });
}

main().then(
  () => process.exit(0),
  (error: Error) => {
    log(`failed: ${error.stack ?? error}`);
    process.exit(1);
  },
);
