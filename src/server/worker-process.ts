import { fork, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { BoundListener } from './listeners.js';
import { newCounters, type RequestCounters } from '../observability/counters.js';
import { workerMallocEnv } from './malloc.js';
import { WORKER_SPEC_ENV, type MasterMessage, type SlowRequest, type WorkerMessage, type WorkerSpec } from './messages.js';

const WORKER_MAIN = fileURLToPath(new URL('./worker-main.js', import.meta.url));
/** The first inherited socket lands on this fd in the worker (0-2 stdio, 3 IPC). */
const FIRST_LISTENER_FD = 4;

export type WorkerState = 'starting' | 'ready' | 'stopping';

/**
 * The master's view of one worker process: its id (stable across respawns, as uWSGI's), state,
 * and what its last heartbeat said. Emits 'ready', 'load-error' (message), 'recycle' (reason)
 * and 'exit' (code, signal).
 */
export class WorkerProcess extends EventEmitter {
  readonly child: ChildProcess;
  state: WorkerState = 'starting';
  readonly spawnedAt = Date.now();
  /** When the worker reported ready (0 until then). */
  readyAt = 0;
  lastBeat = Date.now();
  appKind = '';
  loadMs = 0;
  exited = false;
  /** From the last heartbeat: requests served, requests running, the slow ones. */
  requests = 0;
  inflight = 0;
  counters: RequestCounters = newCounters();
  slow: SlowRequest[] = [];
  /** Requests running now, as reported one by one (harakiri-verbose only). */
  readonly running = new Map<number, { method: string; uri: string; start: number }>();
  /** A kill (harakiri, heartbeat, memory) is under way: one per episode. */
  condemned = false;

  constructor(
    readonly id: number,
    listeners: BoundListener[],
    spec: Omit<WorkerSpec, 'id' | 'listeners' | 'orphanLogFd'>,
    backlog: number,
    logFd: number,
  ) {
    super();
    const mallocEnv = workerMallocEnv(process.env);
    const workerSpec: WorkerSpec = {
      ...spec,
      mallocEnvSet: Object.keys(mallocEnv).length > 0,
      id,
      listeners: listeners.map((l, i) => ({ kind: l.kind, name: l.name, fd: FIRST_LISTENER_FD + i, backlog })),
      orphanLogFd: FIRST_LISTENER_FD + listeners.length,
    };
    this.child = fork(WORKER_MAIN, [], {
      // The bound sockets are inherited as plain fds: no handle passing over IPC, no master in
      // the accept path.
      // stdout and stderr are pipes the master reads: it is the one writer of the log.
      stdio: ['ignore', 'pipe', 'pipe', 'ipc', ...listeners.map((l) => l.handle.fd), logFd],
      env: { ...process.env, ...mallocEnv, [WORKER_SPEC_ENV]: JSON.stringify(workerSpec) },
      execArgv: process.execArgv,
    });
    this.child.on('message', (message: WorkerMessage) => this.onMessage(message));
    this.child.on('exit', (code, signal) => {
      this.exited = true;
      this.emit('exit', code, signal);
    });
    // An IPC send to a worker that just died must not crash the master.
    this.child.on('error', () => {});
  }

  /**
   * Seconds since the worker started serving (0 if it never did): how a crash loop is told from a
   * worker that served a while, whatever the app's load time.
   */
  get servingFor(): number {
    return this.readyAt ? (Date.now() - this.readyAt) / 1000 : 0;
  }

  /** Seconds since spawn. */
  get age(): number {
    return (Date.now() - this.spawnedAt) / 1000;
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  private onMessage(message: WorkerMessage): void {
    this.lastBeat = Date.now();
    if (message.type === 'ready') {
      this.state = 'ready';
      this.readyAt = Date.now();
      this.appKind = message.appKind;
      this.loadMs = message.loadMs;
      this.emit('ready');
    } else if (message.type === 'beat') {
      this.requests = message.requests;
      this.inflight = message.inflight;
      this.slow = message.slow;
      this.counters = message.counters;
      this.emit('beat');
    } else if (message.type === 'request-start') {
      this.running.set(message.id, { method: message.method, uri: message.uri, start: Date.now() });
    } else if (message.type === 'request-end') {
      this.running.delete(message.id);
    } else if (message.type === 'load-error') {
      this.emit('load-error', message.message);
    } else if (message.type === 'recycle') {
      this.state = 'stopping';
      this.emit('recycle', message.reason);
    }
  }

  /** Resolves true once ready, false if the worker exits or misses the deadline first. */
  whenReady(timeoutMs: number): Promise<boolean> {
    if (this.state === 'ready') return Promise.resolve(true);
    if (this.exited) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        this.off('ready', onReady);
        this.off('exit', onExit);
        resolve(ok);
      };
      const onReady = () => done(true);
      const onExit = () => done(false);
      const timer = setTimeout(() => done(false), timeoutMs);
      this.once('ready', onReady);
      this.once('exit', onExit);
    });
  }

  /** Ask for a heartbeat now; resolves when it arrives, or after `timeoutMs`. */
  report(timeoutMs: number): Promise<void> {
    if (this.exited || this.state === 'starting' || !this.child.connected) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.off('beat', done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.once('beat', done);
      this.send({ type: 'report' });
    });
  }

  send(message: MasterMessage): void {
    if (this.child.connected) this.child.send(message);
  }

  /** Ask the worker to finish its in-flight requests and exit; SIGKILL after `mercyMs`. */
  stopGracefully(mercyMs: number, onMercyExpired: () => void): void {
    if (this.exited) return;
    this.state = 'stopping';
    this.send({ type: 'stop' });
    if (!this.child.connected) this.kill('SIGTERM');
    const timer = setTimeout(() => {
      if (this.exited) return;
      onMercyExpired();
      this.kill('SIGKILL');
    }, mercyMs);
    timer.unref();
    this.once('exit', () => clearTimeout(timer));
  }

  kill(signal: NodeJS.Signals): void {
    if (!this.exited) this.child.kill(signal);
  }

  /** Resolves when the process has exited. */
  exitedPromise(): Promise<void> {
    if (this.exited) return Promise.resolve();
    return new Promise((resolve) => this.once('exit', () => resolve()));
  }
}
