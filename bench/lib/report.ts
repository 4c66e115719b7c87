// The bench's report: medians over rounds as Markdown tables, the issue-8 targets as ratios, and a
// hand-written SVG chart (no dependencies).
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Machine } from './machine.js';
import { machineLine } from './machine.js';
import { GROWTH_LIMIT_MIB, type Transfer } from './memory.js';
import { mean, median } from './proc.js';
import { STACKS, stackInfo, type StackId } from './stacks.js';
import { WORKLOADS, type WorkloadId } from './workloads.js';
import type { WrkResult } from './wrk.js';

/** One round of one workload on one stack: wrk's numbers (not its raw report) and the bench's own. */
export interface Sample extends Omit<WrkResult, 'raw'> {
  round: number;
  rssKiB: number[];
  pssKiB: number[];
  backendCpuUsPerReq: number;
  nginxCpuUsPerReq: number;
  /** Share of the machine's CPU used by processes other than the stack, wrk and the bench. */
  foreignShare: number;
}

export interface MemoryRow {
  stack: StackId;
  idleKiB: number;
  upload: Transfer;
  download: Transfer;
}

export interface Results {
  mode: 'quick' | 'full';
  startedAt: string;
  elapsedS: number;
  rounds: number;
  seconds: number;
  warmup: number;
  workers: number;
  nginxWorkers: number;
  threads: number;
  machine: Machine;
  /** Keyed "workload/stack". */
  samples: Record<string, Sample[]>;
  /** Mean worker RSS right after each start, per stack. */
  idleKiB: Partial<Record<StackId, number[]>>;
  memory: MemoryRow[];
}

export interface Cell {
  rps: number;
  p50: number;
  p99: number;
  rssMiB: number;
  cpuUs: number;
  nginxCpuUs: number;
  errors: number;
  errorText: string;
  rounds: number;
}

export function cell(r: Results, w: WorkloadId, s: StackId): Cell | undefined {
  const xs = r.samples[`${w}/${s}`];
  if (!xs?.length) return undefined;
  return {
    rps: median(xs.map((x) => x.rps)),
    p50: median(xs.map((x) => x.p50)),
    p99: median(xs.map((x) => x.p99)),
    rssMiB: median(xs.map((x) => mean(x.rssKiB))) / 1024,
    cpuUs: median(xs.map((x) => x.backendCpuUsPerReq)),
    nginxCpuUs: median(xs.map((x) => x.nginxCpuUsPerReq)),
    errors: xs.reduce((n, x) => n + x.errors, 0),
    errorText: xs.filter((x) => x.errors).map((x) => `round ${x.round}: ${x.errorText}`).join('; '),
    rounds: xs.length,
  };
}

const SHORT: Record<StackId, string> = {
  'nuwsgi-uwsgi': 'nuwsgi uwsgi_pass',
  'nuwsgi-uwsgi-ts': 'nuwsgi uwsgi_pass, pure TS',
  'nuwsgi-http': 'nuwsgi http-socket',
  'node-cluster': 'node:http cluster',
  'uwsgi-python': 'uWSGI + Python',
  'c-ceiling': 'C ceiling',
  nginx: 'nginx alone',
};
export const shortLabel = (s: StackId) => SHORT[s];

const int = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '–');
const ms = (x: number) => (!Number.isFinite(x) ? '–' : x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const ratio = (a: number | undefined, b: number | undefined) => (a && b && Number.isFinite(a / b) ? a / b : NaN);
const fmtRatio = (x: number, target?: number, higherIsBetter = true) => {
  if (!Number.isFinite(x)) return '–';
  const s = `${x.toFixed(2)}×`;
  if (target === undefined) return s;
  const met = higherIsBetter ? x >= target : x <= target;
  return met ? `**${s}** ✓` : `${s} ✗`;
};

function matrix(r: Results, head: string, value: (c: Cell, w: WorkloadId, s: StackId) => string): string {
  const stacks = STACKS.map((s) => s.id).filter((s) => WORKLOADS.some((w) => cell(r, w.id, s)));
  const workloads = WORKLOADS.filter((w) => stacks.some((s) => cell(r, w.id, s)));
  const lines = [`| ${head} | ${stacks.map(shortLabel).join(' | ')} |`, `|---|${stacks.map(() => '---:').join('|')}|`];
  for (const w of workloads) {
    lines.push(`| ${w.label} | ${stacks.map((s) => {
      const c = cell(r, w.id, s);
      return c ? value(c, w.id, s) + (c.errors ? ' ⚠' : '') : '';
    }).join(' | ')} |`);
  }
  return lines.join('\n');
}

/** The issue-8 targets, per workload where both sides ran. */
function targets(r: Results): string {
  const lines = [
    '| workload | uwsgi path: nuwsgi ÷ C ceiling (target ≥ 0.90) | nuwsgi ÷ uWSGI + Python (≥ 1.00) | HTTP path: nuwsgi ÷ node:http cluster (≥ 1.00) | p99 uwsgi path: nuwsgi ÷ uWSGI (≤ 1.00) | p99 HTTP path: nuwsgi ÷ node:http (≤ 1.00) |',
    '|---|---:|---:|---:|---:|---:|',
  ];
  for (const w of WORKLOADS) {
    const get = (s: StackId) => cell(r, w.id, s);
    const u = get('nuwsgi-uwsgi');
    const h = get('nuwsgi-http');
    if (!u && !h) continue;
    lines.push(
      `| ${w.label} | ${fmtRatio(ratio(u?.rps, get('c-ceiling')?.rps), 0.9)} | ${fmtRatio(ratio(u?.rps, get('uwsgi-python')?.rps), 1)} | ${fmtRatio(ratio(h?.rps, get('node-cluster')?.rps), 1)} | ${fmtRatio(ratio(u?.p99, get('uwsgi-python')?.p99), 1, false)} | ${fmtRatio(ratio(h?.p99, get('node-cluster')?.p99), 1, false)} |`,
    );
  }
  return lines.join('\n');
}

/**
 * CPU per request of the backend (master + workers, from /proc), nuwsgi ÷ peer: unlike req/s it barely
 * moves when other processes share the machine, so it is the figure to trust on a busy box.
 */
function cpuRatios(r: Results): string {
  const lines = [
    '| workload | uwsgi path: nuwsgi ÷ C ceiling | nuwsgi ÷ uWSGI + Python | HTTP path: nuwsgi ÷ node:http cluster |',
    '|---|---:|---:|---:|',
  ];
  for (const w of WORKLOADS) {
    const get = (s: StackId) => cell(r, w.id, s)?.cpuUs;
    if (get('nuwsgi-uwsgi') === undefined && get('nuwsgi-http') === undefined) continue;
    const f = (x: number) => (Number.isFinite(x) ? `${x.toFixed(2)}×` : '–');
    lines.push(`| ${w.label} | ${f(ratio(get('nuwsgi-uwsgi'), get('c-ceiling')))} | ${f(ratio(get('nuwsgi-uwsgi'), get('uwsgi-python')))} | ${f(ratio(get('nuwsgi-http'), get('node-cluster')))} |`);
  }
  return lines.join('\n');
}

/** The native acceptor against nuwsgi's own pure TypeScript uwsgi path, in the same run. */
function nativeGain(r: Results): string {
  const lines = [
    '| workload | req/s: native ÷ pure TS | CPU per request: native ÷ pure TS | pure TS ÷ C ceiling (req/s) | pure TS ÷ uWSGI + Python (req/s) |',
    '|---|---:|---:|---:|---:|',
  ];
  let any = false;
  for (const w of WORKLOADS) {
    const get = (s: StackId) => cell(r, w.id, s);
    const n = get('nuwsgi-uwsgi');
    const t = get('nuwsgi-uwsgi-ts');
    if (!n || !t) continue;
    any = true;
    lines.push(`| ${w.label} | ${fmtRatio(ratio(n.rps, t.rps))} | ${fmtRatio(ratio(n.cpuUs, t.cpuUs))} | ${fmtRatio(ratio(t.rps, get('c-ceiling')?.rps))} | ${fmtRatio(ratio(t.rps, get('uwsgi-python')?.rps))} |`);
  }
  return any ? lines.join('\n') : '_the pure TypeScript stack was not run_';
}

function memoryTable(r: Results): string {
  if (!r.memory.length) return '_not run (--no-memory)_';
  const g = (t: Transfer) => `+${t.growthMiB.toFixed(1)} MiB ${t.ok ? '✓' : '✗'}`;
  return [
    `| stack | idle RSS per worker | 64 MiB upload: peak RSS growth | 64 MiB download: peak RSS growth |`,
    '|---|---:|---:|---:|',
    ...r.memory.map((m) => `| ${shortLabel(m.stack)} | ${(m.idleKiB / 1024).toFixed(1)} MiB | ${g(m.upload)} | ${g(m.download)} |`),
  ].join('\n');
}

function idleTable(r: Results): string {
  const ids = STACKS.map((s) => s.id).filter((s) => r.idleKiB[s]?.length);
  return [
    `| ${ids.map(shortLabel).join(' | ')} |`,
    `|${ids.map(() => '---:').join('|')}|`,
    `| ${ids.map((s) => `${(median(r.idleKiB[s]!) / 1024).toFixed(1)} MiB`).join(' | ')} |`,
  ].join('\n');
}

function errorsList(r: Results): string {
  const out: string[] = [];
  for (const w of WORKLOADS) for (const s of STACKS) {
    const c = cell(r, w.id, s.id);
    if (c?.errors) out.push(`- ${w.label}, ${shortLabel(s.id)}: ${c.errorText}`);
  }
  return out.length ? out.join('\n') : 'none: every response was a 2xx and no socket errors.';
}

function interference(r: Results): string {
  const all = Object.values(r.samples).flat().map((x) => x.foreignShare).filter(Number.isFinite);
  if (!all.length) return '';
  const pct = (x: number) => `${(x * 100).toFixed(0)}%`;
  const busy: string[] = [];
  for (const [key, xs] of Object.entries(r.samples)) {
    const m = median(xs.map((x) => x.foreignShare));
    if (m > 0.1) busy.push(`${key} (${pct(m)})`);
  }
  return `Other processes on the machine (not the stack, wrk or the bench) used a median ${pct(median(all))} and at most
${pct(Math.max(...all))} of its CPU during the measured seconds; before each load the bench waits (bounded) until they
use under 15%. ${busy.length ? `Cells whose median is above 10%, to read with care: ${busy.join(', ')}.` : 'No cell has a median above 10%.'}`;
}

export function markdown(r: Results): string {
  const m = r.machine;
  const mode = r.mode === 'quick' ? ' — QUICK RUN (1 round, short loads): indicative only' : '';
  return `# nuwsgi benchmark${mode}

Run ${r.startedAt.slice(0, 16).replace('T', ' ')} UTC, ${Math.round(r.elapsedS / 60)} min, by \`npm run bench${r.mode === 'quick' ? ' -- --quick' : ''}\`.

**Machine:** ${machineLine(m)}.

**Method:** every stack runs behind the same nginx (\`worker_processes ${r.nginxWorkers}\`, access log off, bodies
kept in memory: \`client_body_buffer_size 128k\`, \`*_buffers 16 64k\`, \`*_max_temp_file_size 0\`) with
${r.workers} backend worker processes, and every backend has its request log off (nuwsgi and uWSGI \`--disable-logging\`;
node:http logs nothing). Load: \`wrk -t${r.threads} -c64 --latency\` (\`-c200\` for the async workload) on the same ${m.cores} cores,
${r.warmup} s warm-up (with 4 connections for the async workload, so no backlog is carried into the measurement) then
${r.seconds} s measured, ${r.rounds} round(s); the stacks alternate within each round and the
order rotates between rounds. Cells are medians over rounds. uwsgi_pass goes over a unix socket (nginx opens one
connection per request: the uwsgi protocol has no keep-alive); proxy_pass goes to 127.0.0.1 over HTTP/1.1 with
\`keepalive 256\` upstream connections. node:http cluster is Node's default (the primary accepts, round-robin).
uWSGI: \`--master --processes ${r.workers} --listen 1024 --disable-logging\`, synchronous workers, no threads.
"nginx alone" answers \`return 200\` (hello, upload) or serves the same bytes as a static file (JSON, download).

## Requests per second

${matrix(r, 'workload', (c) => int(c.rps))}

## Targets of issue 8 (ratios in this run)

${targets(r)}

Backend CPU per request, nuwsgi ÷ peer (lower is better; 1.00 = as cheap as the peer):

${cpuRatios(r)}

The native acceptor (\`nuwsgi uwsgi_pass\`) against the pure TypeScript uwsgi path (\`--no-native-io\`), same run:

${nativeGain(r)}

## Latency: p50 / p99 (ms)

${matrix(r, 'workload', (c) => `${ms(c.p50)} / ${ms(c.p99)}`)}

## RSS per worker after the load (MiB)

${matrix(r, 'workload', (c) => c.rssMiB.toFixed(1))}

For uWSGI the workers are forked from the master after the app is loaded, so part of each worker's RSS is shared
(see pssKiB in results.json). For "nginx alone" the workers are nginx's.

## CPU per request (µs): backend workers / nginx workers

${matrix(r, 'workload', (c, w, s) => (s === 'nginx' ? `– / ${int(c.nginxCpuUs)}` : `${int(c.cpuUs)} / ${int(c.nginxCpuUs)}`))}

## Idle worker RSS (right after start)

${idleTable(r)}

## Memory: a 64 MiB body in each direction (limit: growth < ${GROWTH_LIMIT_MIB} MiB per worker)

${memoryTable(r)}

The app streams: the upload is counted chunk by chunk, the download written 1 MiB at a time waiting for
\`drain\`. Growth is the largest over the workers of peak RSS (VmHWM, reset before each transfer) minus RSS before.

## Errors

${errorsList(r)}

## Interference

${interference(r)}

![requests per second](chart.svg)
`;
}

const COLORS: Record<StackId, string> = {
  'nuwsgi-uwsgi': '#1f77b4',
  'nuwsgi-uwsgi-ts': '#9ecae1',
  'nuwsgi-http': '#6baed6',
  'node-cluster': '#2ca02c',
  'uwsgi-python': '#ff7f0e',
  'c-ceiling': '#7f7f7f',
  nginx: '#c7c7c7',
};

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Grouped horizontal bars: per workload, each stack's req/s as a share of the fastest stack there. */
export function chart(r: Results): string {
  const width = 900;
  const left = 170;
  const barMax = 520;
  const barH = 14;
  const gap = 3;
  const groups = WORKLOADS.map((w) => ({ w, cells: STACKS.map((s) => ({ s: s.id, c: cell(r, w.id, s.id) })).filter((x) => x.c) })).filter((g) => g.cells.length);
  const stacksShown = STACKS.filter((s) => groups.some((g) => g.cells.some((x) => x.s === s.id)));
  let y = 78;
  const parts: string[] = [];
  for (const g of groups) {
    parts.push(`<text x="10" y="${y + 12}" font-weight="bold">${esc(g.w.label)}</text>`);
    y += 20;
    const best = Math.max(...g.cells.map((x) => x.c!.rps));
    for (const { s, c } of g.cells) {
      const len = Math.max(1, (c!.rps / best) * barMax);
      parts.push(`<text x="${left - 6}" y="${y + barH - 3}" text-anchor="end">${esc(shortLabel(s))}</text>`);
      parts.push(`<rect x="${left}" y="${y}" width="${len.toFixed(1)}" height="${barH}" fill="${COLORS[s]}"><title>${esc(stackInfo(s).label)}: ${int(c!.rps)} req/s, p99 ${ms(c!.p99)} ms</title></rect>`);
      parts.push(`<text x="${(left + len + 6).toFixed(1)}" y="${y + barH - 3}">${int(c!.rps)} req/s · p99 ${ms(c!.p99)} ms${c!.errors ? ' ⚠ errors' : ''}</text>`);
      y += barH + gap;
    }
    y += 12;
  }
  const legend = stacksShown
    .map((s, i) => {
      const x = 10 + (i % 3) * 295;
      const ly = 34 + Math.floor(i / 3) * 18;
      return `<rect x="${x}" y="${ly - 10}" width="12" height="12" fill="${COLORS[s.id]}"/><text x="${x + 18}" y="${ly}">${esc(s.label)}</text>`;
    })
    .join('\n');
  const title = `Requests per second, median of ${r.rounds} round(s); bars relative to the fastest stack per workload${r.mode === 'quick' ? ' (QUICK RUN)' : ''}`;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y + 26}" viewBox="0 0 ${width} ${y + 26}" font-family="Helvetica, Arial, sans-serif" font-size="12">
<rect width="100%" height="100%" fill="#ffffff"/>
<text x="10" y="16" font-size="14" font-weight="bold">${esc(title)}</text>
${legend}
${parts.join('\n')}
<text x="10" y="${y + 14}" font-size="10" fill="#555">${esc(`${r.machine.cpu}, ${r.machine.cores} cores; ${r.workers} workers per stack; wrk through nginx (worker_processes ${r.nginxWorkers}); ${r.startedAt.slice(0, 10)}`)}</text>
</svg>
`;
}

export function writeReports(r: Results, dir: string): { markdown: string } {
  const md = markdown(r);
  writeFileSync(path.join(dir, 'results.md'), md);
  writeFileSync(path.join(dir, 'chart.svg'), chart(r));
  return { markdown: md };
}
