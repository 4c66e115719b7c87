// Shared by the benchmark and the profile: tools, the repo, the C responder, the payload files.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from './http.js';
import { DOWNLOAD_BYTES, HELLO, jsonBody } from './payloads.js';
import { machineCpu } from './proc.js';
import type { RunningStack } from './stacks.js';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('repo root not found');
    dir = parent;
  }
  return dir;
}

/** Everything the bench runs must be installed; say which Debian package is missing. */
export function checkTools(): void {
  const need: [string, string][] = [
    ['nginx', 'nginx-light'],
    ['wrk', 'wrk'],
    ['uwsgi-core', 'uwsgi-core'],
    ['cc', 'gcc'],
  ];
  const missing = need.filter(([bin]) => {
    try {
      execFileSync('sh', ['-c', `command -v ${bin} || test -x /usr/sbin/${bin}`], { stdio: 'ignore' });
      return false;
    } catch {
      return true;
    }
  }).map(([, pkg]) => pkg);
  if (!existsSync('/usr/lib/uwsgi/plugins/python3_plugin.so')) missing.push('uwsgi-plugin-python3');
  if (missing.length) throw new Error(`missing tools: apt-get install ${missing.join(' ')}`);
}

/** The C ceiling responder, built fresh into dist/bench/. */
export function buildCeiling(root: string): string {
  const out = path.join(root, 'dist/bench/ceiling');
  mkdirSync(path.dirname(out), { recursive: true });
  execFileSync('cc', ['-O2', '-Wall', '-o', out, path.join(root, 'bench/ceiling.c')], { stdio: 'inherit' });
  return out;
}

/** hello, json and download bodies as files, for nginx and the C responder. */
export async function writePayloads(root: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'nuwsgi-bench-payload-'));
  await chmod(dir, 0o755);
  // Removed however the run ends (the normal path removes it earlier).
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  await writeFile(path.join(dir, 'hello'), HELLO);
  await writeFile(path.join(dir, 'json'), await jsonBody(root));
  await writeFile(path.join(dir, 'download'), Buffer.alloc(DOWNLOAD_BYTES, 'x'));
  return dir;
}


export async function waitServing(stack: RunningStack, probe: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const reply = await request(stack.nginx.baseUrl + probe).catch(() => undefined);
    if (reply?.status === 200) return;
    if (Date.now() > deadline) throw new Error(`${stack.id}: ${probe} never answered 200\n${stack.nginx.errorLog()}\n${stack.output()}`);
    await sleep(50);
  }
}


/**
 * The bench measures ratios on a machine it may share (a compile, a test suite): before each load,
 * wait until the rest of the machine uses under 15% of the CPU for half a second, at most maxMs.
 * Returns how long it waited.
 */
export async function waitQuiet(maxMs: number): Promise<number> {
  const start = Date.now();
  for (;;) {
    const a = machineCpu();
    await sleep(500);
    const b = machineCpu();
    if ((b.busy - a.busy) / (b.total - a.total) < 0.15 || Date.now() - start >= maxMs) return Date.now() - start - 500;
  }
}
