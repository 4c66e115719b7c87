// Starts the real nuwsgi CLI (bin/nuwsgi.js) as a child process for end-to-end tests, on a unix
// socket in a fresh temp dir, and collects its log (stderr) so tests can assert on log lines.

import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const BIN = path.join(ROOT, 'bin/nuwsgi.js');
export const FIXTURE_APPS = path.join(ROOT, 'test/apps');

export interface StartServerOptions {
  /** App file; relative names are taken from test/apps/. */
  app: string;
  /** Extra CLI arguments (e.g. ['--processes', '2', '--harakiri', '2']). */
  args?: string[];
  /** Also bind an HTTP socket on 127.0.0.1:<port>. */
  httpPort?: number;
  /** Wait for the ready line (default true). */
  waitReady?: boolean;
  env?: Record<string, string>;
  /**
   * Pass only `args` (no --socket, --chmod-socket, app), for a config file that names its own; the
   * server's environment gets NUWSGI_TEST_DIR=<its temp dir>, so `socket = $(NUWSGI_TEST_DIR)/app.sock`
   * is the socket this helper reports.
   */
  bare?: boolean;
  /** Pass --chmod-socket=666 so nginx (user nobody) can connect (default true). */
  chmodSocket?: boolean;
}

export interface ServerInstance {
  dir: string;
  socket: string;
  /** "unix:<socket>", for nginx's uwsgi_pass. */
  upstream: string;
  process: ChildProcess;
  pid: number;
  /** Everything the server wrote to stderr and stdout so far. */
  output(): string;
  /** Resolves when a line matching `pattern` has been written (bounded by timeoutMs). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Sends the signal and resolves with the exit code (SIGKILL after timeoutMs). */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
  exited: Promise<number | null>;
}

export async function startServer(opts: StartServerOptions): Promise<ServerInstance> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nuwsgi-test-'));
  chmodSync(dir, 0o755); // nginx workers run as nobody and must reach the socket
  const socket = path.join(dir, 'app.sock');
  const app = path.isAbsolute(opts.app) ? opts.app : path.join(FIXTURE_APPS, opts.app);
  const args = [BIN, '--socket', socket, ...(opts.chmodSocket === false ? [] : ['--chmod-socket=666']), ...(opts.httpPort ? ['--http-socket', `127.0.0.1:${opts.httpPort}`] : []), ...(opts.args ?? []), app];
  if (opts.bare) {
    args.splice(1, args.length - 1, ...(opts.args ?? []));
    opts = { ...opts, env: { NUWSGI_TEST_DIR: dir, ...opts.env } };
  }
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
  let out = '';
  const watchers = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    out += chunk.toString();
    for (const w of watchers) w();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  // 'exit' can come before the last output has been read from the pipes: wait for both to end
  // too, so a test that reads the log after the exit sees its last lines. Bounded, since workers
  // left running after a killed master hold the pipe open (their orphan log descriptor).
  const ended = (stream: NodeJS.ReadableStream) => new Promise<void>((resolve) => stream.once('end', resolve).once('close', resolve));
  const outputEnded = Promise.all([ended(child.stdout!), ended(child.stderr!)]);
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      const bound = setTimeout(() => resolve(code), 2000);
      void outputEnded.then(() => {
        clearTimeout(bound);
        resolve(code);
      });
    }),
  );
  let done = false;
  exited.then(() => {
    done = true;
    for (const w of watchers) w();
  });

  const waitFor = (pattern: RegExp, timeoutMs = 15_000) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const m = pattern.exec(out);
        if (m) {
          cleanup();
          resolve(m[0]);
        } else if (done) {
          cleanup();
          reject(new Error(`server exited before logging ${pattern}; output:\n${out}`));
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out waiting for ${pattern}; output:\n${out}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        watchers.delete(check);
      };
      watchers.add(check);
      check();
    });

  const instance: ServerInstance = {
    dir,
    socket,
    upstream: `unix:${socket}`,
    process: child,
    pid: child.pid!,
    output: () => out,
    waitFor,
    exited,
    async stop(signal = 'SIGTERM', timeoutMs = 20_000) {
      if (!done) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const code = await exited;
      clearTimeout(timer);
      rmSync(dir, { recursive: true, force: true });
      return code;
    },
  };
  if (opts.waitReady !== false) await waitFor(/nuwsgi is ready/);
  return instance;
}
