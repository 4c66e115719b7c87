// Reading V8 .cpuprofile files (node --cpu-prof): self and inclusive time by function and by
// category, folded stacks, and a hand-written SVG flame graph.
import path from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** A merged call tree: one node per distinct frame under the same parent; times in µs. */
export interface Frame {
  name: string;
  category: string;
  self: number;
  total: number;
  children: Map<string, Frame>;
}

export function frameName(cf: CallFrame): string {
  const fn = cf.functionName || '(anonymous)';
  if (!cf.url) return fn;
  let file = cf.url.replace(/^file:\/\//, '');
  const dist = file.indexOf('/dist/');
  if (dist >= 0) file = file.slice(dist + 1);
  else if (file.includes('/node_modules/')) file = file.slice(file.lastIndexOf('/node_modules/') + 1);
  else if (!file.startsWith('node:')) file = path.basename(file);
  return `${fn} ${file}:${cf.lineNumber + 1}`;
}

export function category(cf: CallFrame): string {
  const { functionName: fn, url } = cf;
  if (fn === '(idle)') return 'idle (waiting in epoll)';
  if (fn === '(garbage collector)') return 'garbage collection';
  if (fn === '(program)') return 'V8/libuv native, outside JS';
  if (fn === '(root)') return 'root';
  if (url.includes('/dist/src/')) return `nuwsgi: ${url.slice(url.indexOf('/dist/src/') + 10)}`;
  if (url.includes('/bench/apps/')) return 'the app';
  if (url.includes('/node_modules/')) return 'node_modules';
  if (url.startsWith('node:')) {
    const m = url.slice(5);
    if (m.startsWith('internal/streams/')) return 'node: streams';
    if (m.startsWith('_http_') || m === 'http') return `node: ${m}`;
    if (m === 'net' || m.startsWith('internal/net') || m.startsWith('internal/stream_base')) return 'node: net (sockets)';
    if (m.startsWith('internal/timers') || m === 'timers') return 'node: timers';
    if (m === 'events' || m.startsWith('internal/process/task_queues')) return 'node: events, nextTick queue';
    return `node: ${m}`;
  }
  if (!url) return `native: ${fn}`;
  return 'other JS';
}

const newFrame = (name: string, cat: string): Frame => ({ name, category: cat, self: 0, total: 0, children: new Map() });

/** Merges profiles into one tree (root = "all"), idle excluded unless keepIdle. */
export function mergeProfiles(profiles: CpuProfile[], keepIdle = false): { root: Frame; idleUs: number; wallUs: number } {
  const root = newFrame('all', 'root');
  let idleUs = 0;
  let wallUs = 0;
  for (const p of profiles) {
    wallUs += p.endTime - p.startTime;
    const byId = new Map(p.nodes.map((n) => [n.id, n]));
    const parent = new Map<number, number>();
    for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    const selfUs = new Map<number, number>();
    for (let i = 0; i < p.samples.length; i++) {
      // timeDeltas[i + 1] is the time until the next sample: the time this sample stands for.
      const dt = p.timeDeltas[i + 1] ?? 0;
      selfUs.set(p.samples[i], (selfUs.get(p.samples[i]) ?? 0) + dt);
    }
    for (const [id, us] of selfUs) {
      const chain: ProfileNode[] = [];
      for (let n: number | undefined = id; n !== undefined; n = parent.get(n)) chain.unshift(byId.get(n)!);
      const leaf = chain[chain.length - 1];
      if (leaf.callFrame.functionName === '(idle)') {
        idleUs += us;
        if (!keepIdle) continue;
      }
      let f = root;
      f.total += us;
      for (const n of chain.slice(1)) {
        const name = frameName(n.callFrame);
        let c = f.children.get(name);
        if (!c) f.children.set(name, (c = newFrame(name, category(n.callFrame))));
        c.total += us;
        f = c;
      }
      f.self += us;
    }
  }
  return { root, idleUs, wallUs };
}

function walk(f: Frame, visit: (f: Frame, stack: Frame[]) => void, stack: Frame[] = []): void {
  visit(f, stack);
  stack.push(f);
  for (const c of f.children.values()) walk(c, visit, stack);
  stack.pop();
}

/** Self time by category and by function, inclusive time by function (recursion counted once). */
export function summarize(root: Frame) {
  const byCategory = new Map<string, number>();
  const selfByFn = new Map<string, { us: number; category: string }>();
  const totalByFn = new Map<string, { us: number; category: string }>();
  walk(root, (f, stack) => {
    if (f === root) return;
    byCategory.set(f.category, (byCategory.get(f.category) ?? 0) + f.self);
    const s = selfByFn.get(f.name) ?? { us: 0, category: f.category };
    s.us += f.self;
    selfByFn.set(f.name, s);
    if (!stack.some((a) => a.name === f.name)) {
      const t = totalByFn.get(f.name) ?? { us: 0, category: f.category };
      t.us += f.total;
      totalByFn.set(f.name, t);
    }
  });
  const sorted = <T extends { us: number }>(m: Map<string, T>) => [...m.entries()].sort((a, b) => b[1].us - a[1].us);
  return { byCategory: [...byCategory.entries()].sort((a, b) => b[1] - a[1]), self: sorted(selfByFn), total: sorted(totalByFn) };
}

/** Brendan Gregg's folded format ("a;b;c 123"), for flamegraph.pl or speedscope. */
export function folded(root: Frame): string {
  const lines: string[] = [];
  walk(root, (f, stack) => {
    if (f.self > 0 && f !== root) lines.push(`${[...stack.slice(1), f].map((x) => x.name.replace(/;/g, ',')).join(';')} ${Math.round(f.self)}`);
  });
  return lines.join('\n') + '\n';
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function color(cat: string): string {
  if (cat.startsWith('nuwsgi')) return '#e8743b';
  if (cat.startsWith('node: _http') || cat === 'node: http') return '#f2c14e';
  if (cat.startsWith('node: net')) return '#9bc53d';
  if (cat.startsWith('node:')) return '#c3e88d';
  if (cat.startsWith('native') || cat.startsWith('V8')) return '#a6cee3';
  if (cat === 'garbage collection') return '#b39ddb';
  if (cat === 'the app') return '#ff8a80';
  return '#dddddd';
}

/** A flame graph (root at the bottom); frames narrower than half a pixel are dropped. */
export function flameSvg(root: Frame, title: string, width = 1200): string {
  const rowH = 16;
  let depth = 0;
  walk(root, (_f, stack) => (depth = Math.max(depth, stack.length + 1)));
  const height = depth * rowH + 50;
  const scale = (width - 20) / root.total;
  const rects: string[] = [];
  const draw = (f: Frame, x: number, level: number) => {
    const w = f.total * scale;
    if (w < 0.5) return;
    const y = height - 20 - (level + 1) * rowH;
    const pct = ((f.total / root.total) * 100).toFixed(1);
    const label = w > 35 ? `<text x="${(x + 3).toFixed(1)}" y="${y + 11}" clip-path="url(#c${rects.length})">${esc(f.name)}</text>` : '';
    const clip = w > 35 ? `<clipPath id="c${rects.length}"><rect x="${x.toFixed(1)}" y="${y}" width="${(w - 2).toFixed(1)}" height="${rowH - 1}"/></clipPath>` : '';
    rects.push(`<g><title>${esc(f.name)} — ${pct}% (${esc(f.category)})</title>${clip}<rect x="${x.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${rowH - 1}" fill="${color(f.category)}" rx="1"/>${label}</g>`);
    let cx = x;
    for (const c of [...f.children.values()].sort((a, b) => a.name.localeCompare(b.name))) {
      draw(c, cx, level + 1);
      cx += c.total * scale;
    }
  };
  draw(root, 10, 0);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Menlo, Consolas, monospace" font-size="10">
<rect width="100%" height="100%" fill="#ffffff"/>
<text x="10" y="18" font-family="Helvetica, Arial, sans-serif" font-size="14" font-weight="bold">${esc(title)}</text>
${rects.join('\n')}
</svg>
`;
}
