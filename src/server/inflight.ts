import type { IncomingMessage, ServerResponse } from 'node:http';
import { closeConnection } from '../bridge/close.js';
import { rawResponse } from '../bridge/raw-response.js';
import { noteRawResponse } from '../observability/capture.js';

import type { SlowRequest } from './messages.js';

export interface InflightOptions {
  harakiri: number;
  workerId: number;
  log(line: string): void;
  /** Called after every request, with the count still running. */
  onDone(running: number): void;
  /** Called when harakiri cuts a request in this worker. */
  onHarakiri?(): void;
  /** Called as each request starts and ends (harakiri-verbose reporting), when given. */
  onStart?(request: Running): void;
  onEnd?(request: Running): void;
}

export interface Running {
  id: number;
  method: string;
  uri: string;
  start: number;
}

/** The heartbeat names at most this many slow requests. */
const MAX_REPORTED = 10;
const SLOW_MS = 1000;

/**
 * Requests running in this worker: the count a graceful stop waits on, and the per-request
 * harakiri deadline. The deadline is a timer in the worker, so it fires only while the event loop
 * runs; a loop that is blocked is caught by the master through missing heartbeats.
 */
export class Inflight {
  /** Requests finished since this worker started. */
  done = 0;
  private readonly running = new Set<Running>();
  private nextId = 1;

  constructor(private readonly options: InflightOptions) {}

  get count(): number {
    return this.running.size;
  }

  /**
   * Count `res` as running until it closes. `onClose` runs first when it does (the request's
   * log line and counters), before onDone may end a stopping worker: one 'close' listener for
   * both, as every listener costs on every request.
   */
  track(req: IncomingMessage, res: ServerResponse, onClose?: () => void): void {
    const entry: Running = { id: this.nextId++, method: req.method ?? '-', uri: req.url ?? '-', start: Date.now() };
    this.running.add(entry);
    this.options.onStart?.(entry);
    const timer = this.options.harakiri > 0 ? setTimeout(() => this.harakiri(req, res), this.options.harakiri * 1000) : undefined;
    res.once('close', () => {
      onClose?.();
      if (timer) clearTimeout(timer);
      this.running.delete(entry);
      this.done++;
      this.options.onEnd?.(entry);
      this.options.onDone(this.running.size);
    });
  }

  /** Requests older than a second, oldest first: what the master logs if this worker hangs. */
  slow(): SlowRequest[] {
    const now = Date.now();
    const out: SlowRequest[] = [];
    for (const r of this.running) if (now - r.start >= SLOW_MS) out.push({ method: r.method, uri: r.uri, ageMs: now - r.start });
    return out.sort((a, b) => b.ageMs - a.ageMs).slice(0, MAX_REPORTED);
  }

  private harakiri(req: IncomingMessage, res: ServerResponse): void {
    const { harakiri, workerId, log } = this.options;
    this.options.onHarakiri?.();
    log(`HARAKIRI ON WORKER ${workerId} (pid: ${process.pid}): ${req.method} ${req.url} still running after ${harakiri}s -- ${res.headersSent ? 'cutting the response' : 'answering 504'}`);
    const socket = res.socket;
    // Writes after this point are dropped quietly (a destroyed response ignores them) instead of
    // throwing "write after end" inside the app.
    (res as unknown as { destroyed: boolean }).destroyed = true;
    if (!socket || socket.destroyed) return;
    if (res.headersSent) return void socket.destroy();
    const raw = rawResponse(504, `the request ran longer than harakiri (${harakiri}s)`);
    noteRawResponse(res, raw); // the request log and metrics show the 504, not the app's unsent 200
    socket.write(raw);
    closeConnection(socket, 1000);
  }
}
