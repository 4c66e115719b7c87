// Helpers for the hardening and fuzz tests: raw uwsgi exchanges on a unix socket, the bare bridge
// server (test/apps/hard-bridge.mjs), and /proc readings (RSS, open fds). Every wait is bounded.

import type { ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, chmodSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { FIXTURE_APPS } from './server.js';
import { uwsgiPacket as encodePacket } from './uwsgi-packet.js';

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A uwsgi packet (test/helpers/uwsgi-packet.ts), with the body also given as text. */
export function uwsgiPacket(vars: [string, string][], body: Buffer | string = Buffer.alloc(0), modifier1 = 0): Buffer {
  return encodePacket(vars, Buffer.from(body), modifier1);
}

/** The vars nginx sends for a request, enough for the bridge and the app. */
export function requestVars(method: string, uri: string, extra: [string, string][] = []): [string, string][] {
  return [
    ['REQUEST_METHOD', method],
    ['REQUEST_URI', uri],
    ['SERVER_PROTOCOL', 'HTTP/1.1'],
    ['REMOTE_ADDR', '127.0.0.1'],
    ['HTTP_HOST', 'hard.test'],
    ...extra,
  ];
}

export interface RawExchange {
  /** Everything the server sent before the connection ended. */
  reply: Buffer;
  /** The server reset the connection (rather than a clean close). */
  reset: boolean;
}

/**
 * Write `bytes` to a unix socket and read until the server closes (bounded). `end` half-closes
 * our side after the write; `chunks` writes the pieces `gapMs` apart instead of all at once.
 */
export function rawUwsgi(
  socketPath: string,
  bytes: Buffer | Buffer[],
  opts: { end?: boolean; timeoutMs?: number; gapMs?: number; allowHalfOpen?: boolean } = {},
): Promise<RawExchange> {
  const { end = false, timeoutMs = 10_000, gapMs = 0, allowHalfOpen = false } = opts;
  const pieces = Array.isArray(bytes) ? bytes : [bytes];
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let reset = false;
    // allowHalfOpen: the server's FIN does not end our side, as with a peer that keeps sending.
    const sock = net.connect({ path: socketPath, allowHalfOpen });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`the server did not close within ${timeoutMs} ms; got ${JSON.stringify(Buffer.concat(chunks).toString('latin1').slice(0, 300))}`));
    }, timeoutMs);
    sock.on('connect', async () => {
      for (const [i, piece] of pieces.entries()) {
        if (i > 0 && gapMs > 0) await sleep(gapMs);
        if (sock.destroyed || !sock.writable) return;
        sock.write(piece);
      }
      if (end) sock.end();
    });
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ECONNRESET' || e.code === 'EPIPE') reset = true;
      else {
        clearTimeout(timer);
        reject(e);
      }
    });
    sock.on('close', () => {
      clearTimeout(timer);
      resolve({ reply: Buffer.concat(chunks), reset });
    });
  });
}

export interface ParsedResponse {
  statusLine: string;
  status: number;
  /** [lowercased name, value] in order. */
  headers: [string, string][];
  header(name: string): string | undefined;
  body: Buffer;
}

/** Split a raw HTTP/1.x response as nuwsgi wrote it on the uwsgi socket (no chunking). */
export function parseResponse(raw: Buffer): ParsedResponse {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) throw new Error(`no complete response head in ${JSON.stringify(raw.toString('latin1').slice(0, 300))}`);
  const lines = raw.subarray(0, end).toString('latin1').split('\r\n');
  const headers = lines.slice(1).map((l): [string, string] => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]);
  return {
    statusLine: lines[0],
    status: Number(lines[0].split(' ')[1]),
    headers,
    header: (name) => headers.find(([k]) => k === name)?.[1],
    body: raw.subarray(end + 4),
  };
}

export interface BridgeInstance {
  socket: string;
  upstream: string;
  pid: number;
  output(): string;
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Start test/apps/hard-bridge.mjs with these ConnectionOptions; stopped by the test's teardown. */
export async function startBridge(t: ExecutionContext, options: Record<string, unknown>): Promise<BridgeInstance> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nuwsgi-bridge-'));
  chmodSync(dir, 0o755);
  const socket = path.join(dir, 'bridge.sock');
  const child = spawn(process.execPath, [path.join(FIXTURE_APPS, 'hard-bridge.mjs'), socket, JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c));
  child.stderr!.on('data', (c: Buffer) => (out += c));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const waitFor = async (pattern: RegExp, timeoutMs = 10_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(out)) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`bridge: no ${pattern} within ${timeoutMs} ms; output:\n${out}`);
      await sleep(20);
    }
  };
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  t.teardown(stop);
  await waitFor(/hard-bridge ready/);
  return { socket, upstream: `unix:${socket}`, pid: child.pid!, output: () => out, waitFor, stop };
}

/** Resident set size of a process in bytes (undefined once it is gone). */
export function rss(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Open file descriptors of a process (undefined once it is gone). */
export function fdCount(pid: number): number | undefined {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return undefined;
  }
}

/** True while a process exists and is not a zombie. */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z /.test(stat);
  } catch {
    return false;
  }
}

/** Poll until `condition` holds; throws after `timeoutMs` (a bound, never an expectation). */
export async function until(condition: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Open `n` connections to a unix socket (in batches, so the listen queue is not the test). */
export async function openConnections(socketPath: string, n: number, batch = 100): Promise<net.Socket[]> {
  const sockets: net.Socket[] = [];
  for (let i = 0; i < n; i += batch) {
    const size = Math.min(batch, n - i);
    const opened = await Promise.all(
      Array.from(
        { length: size },
        () =>
          new Promise<net.Socket>((resolve, reject) => {
            const sock = net.connect({ path: socketPath });
            sock.once('connect', () => resolve(sock));
            sock.once('error', reject);
          }),
      ),
    );
    for (const s of opened) {
      s.on('error', () => {});
      sockets.push(s);
    }
  }
  return sockets;
}
