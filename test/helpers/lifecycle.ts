// Helpers shared by the end-to-end lifecycle and process-manager tests: bounded waits, reading
// the master's log (worker pids per generation), the nginx + nuwsgi stack, the life-app answer,
// running the CLI to completion. No helper asserts a duration: every wait is a bound.

import type { ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { httpRequest, startNginx, type HttpResponse, type NginxInstance } from './nginx.js';
import { BIN, startServer, type ServerInstance, type StartServerOptions } from './server.js';

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Poll until `condition` holds; fails after `timeoutMs` (a bound, not an expectation). */
export async function until(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

export function count(text: string, pattern: RegExp): number {
  return [...text.matchAll(new RegExp(pattern.source, pattern.flags.includes('g') ? pattern.flags : pattern.flags + 'g'))].length;
}

/** Worker pids in spawn order, from "spawned nuwsgi worker N (pid: X)". */
export function spawnedWorkers(log: string): { id: number; pid: number }[] {
  return [...log.matchAll(/spawned nuwsgi worker (\d+) \(pid: (\d+)\)/g)].map((m) => ({ id: Number(m[1]), pid: Number(m[2]) }));
}

export function retiredPids(log: string): number[] {
  return [...log.matchAll(/worker \d+ killed successfully \(pid: (\d+)/g)].map((m) => Number(m[1]));
}

export function isNuwsgiWorker(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('worker-main.js');
  } catch {
    return false;
  }
}

/**
 * Stop a server at the end of a test: gracefully, then make sure no worker it spawned outlives
 * the test (a worker whose master died drains on its own; one with a stuck request would not).
 */
export async function shutdown(server: ServerInstance): Promise<void> {
  await server.stop('SIGTERM', 10_000);
  for (const { pid } of spawnedWorkers(server.output())) {
    if (isNuwsgiWorker(pid)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
  }
}

export async function stack(t: ExecutionContext, opts: StartServerOptions): Promise<{ server: ServerInstance; nginx: NginxInstance }> {
  const server = await startServer(opts);
  t.teardown(() => shutdown(server));
  const nginx = await startNginx({ upstream: server.upstream });
  t.teardown(() => nginx.stop());
  return { server, nginx };
}

export const get = (nginx: NginxInstance, pathAndQuery: string, timeoutMs = 20_000) =>
  httpRequest({ method: 'GET', url: `${nginx.baseUrl}${pathAndQuery}`, timeoutMs });

/** The life-app answer: "n=<n> pid=<pid>"; returns the pid, or throws with the whole response. */
export function servedBy(res: HttpResponse, n: string | number): number {
  const body = res.body.toString();
  const m = /^n=(\S+) pid=(\d+)$/.exec(body);
  if (res.status !== 200 || !m || m[1] !== String(n)) throw new Error(`expected 200 "n=${n} pid=..." but got ${res.status} ${JSON.stringify(body.slice(0, 300))}`);
  return Number(m[2]);
}

/** Run the CLI to completion (startup failures, client commands): exit code and everything it wrote. */
export function runCli(args: string[], timeoutMs = 20_000, env?: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c));
    child.stderr.on('data', (c: Buffer) => (output += c));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`nuwsgi ${args.join(' ')} did not exit; output:\n${output}`));
    }, timeoutMs);
    // 'close', not 'exit': the last output can still be in the pipes when the process exits.
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

export function tempDir(t: ExecutionContext): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nuwsgi-life-'));
  chmodSync(dir, 0o755);
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
