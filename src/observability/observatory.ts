import type net from 'node:net';
import { VERSION } from '../version.js';
import { addCounters, newCounters, type RequestCounters } from './counters.js';
import { startMetricsServer, startStatsServer } from './endpoints.js';
import { listenQueue } from './listen-queue.js';
import { renderMetrics } from './metrics.js';
import { statsDocument, type WorkerSnapshot } from './stats.js';

/** What the observatory needs to know of a worker (the master's WorkerProcess fits). */
export interface ObservedWorker {
  id: number;
  pid: number;
  state: string;
  inflight: number;
  counters: RequestCounters;
  spawnedAt: number;
  appKind: string;
  loadMs: number;
  exited: boolean;
  /** Ask for a heartbeat now; resolves when it came (or a short while passed). */
  report(timeoutMs: number): Promise<void>;
}

export interface ObservedSocket {
  name: string;
  kind: 'uwsgi' | 'http';
  fd: number;
  backlog: number;
}

interface Slot {
  previousRequests: number;
  respawnCount: number;
}

/** A worker whose counters were folded in at its exit, and the counters folded. */
interface Folded {
  worker: ObservedWorker;
  counters: RequestCounters;
  at: number;
}

/** How long after its exit a worker's last heartbeat may still arrive (the IPC pipe drains after the exit is seen). */
const LATE_BEAT_MS = 5000;

/** How long the stats socket waits for workers' fresh counters before answering with what it has. */
const REPORT_WAIT_MS = 200;

/**
 * The master's book of what happened: per-slot history (respawns, requests of earlier
 * processes), the counters of workers that have exited (so totals never go backwards), and the
 * lifecycle events; it serves them on the stats socket and the metrics endpoint.
 */
export class Observatory {
  private readonly slots = new Map<number, Slot>();
  private readonly exitedTotals = newCounters();
  private recentlyExited: Folded[] = [];
  private readonly startTime = Math.floor(Date.now() / 1000);
  respawns = 0;
  reloads = 0;
  harakiris = 0;
  /** Log lines dropped so far, from the master's log writer. */
  logDropped: () => number = () => 0;
  private servers: net.Server[] = [];

  constructor(
    private readonly workers: () => ObservedWorker[],
    private readonly sockets: () => ObservedSocket[],
    private readonly rss: (pid: number) => number | undefined,
    private readonly vsz: (pid: number) => number | undefined,
  ) {}

  /** A worker started in slot `id`; every start after the slot's first is a respawn (crash, recycle, reload). */
  spawned(id: number): void {
    const slot = this.slots.get(id);
    if (!slot) return void this.slots.set(id, { previousRequests: 0, respawnCount: 0 });
    slot.respawnCount++;
    this.respawns++;
  }

  /** A worker's process ended: fold its last counters into the totals and its slot's history. */
  exited(worker: ObservedWorker): void {
    addCounters(this.exitedTotals, worker.counters);
    const slot = this.slots.get(worker.id);
    if (slot) slot.previousRequests += worker.counters.requests;
    this.recentlyExited.push({ worker, counters: worker.counters, at: Date.now() });
  }

  /**
   * A worker's last heartbeat (sent just before it exits) can be read after its exit was seen:
   * replace what was folded in with it, so the requests of its last moments are not lost.
   */
  private foldLateBeats(): void {
    const now = Date.now();
    for (const f of this.recentlyExited) {
      if (f.worker.counters === f.counters) continue;
      addCounters(this.exitedTotals, f.counters, -1);
      addCounters(this.exitedTotals, f.worker.counters);
      const slot = this.slots.get(f.worker.id);
      if (slot) slot.previousRequests += f.worker.counters.requests - f.counters.requests;
      f.counters = f.worker.counters;
    }
    this.recentlyExited = this.recentlyExited.filter((f) => now - f.at < LATE_BEAT_MS);
  }

  async start(opts: { stats?: string; statsHttp: boolean; statsMinified: boolean; metrics?: string }, log: (line: string) => void): Promise<void> {
    if (opts.stats) {
      this.servers.push(await startStatsServer(opts.stats, { http: opts.statsHttp, minified: opts.statsMinified }, () => this.stats()));
      log(`*** Stats server enabled on ${opts.stats} ***`);
    }
    if (opts.metrics) {
      this.servers.push(await startMetricsServer(opts.metrics, () => this.metrics()));
      log(`*** Prometheus metrics enabled on http://${opts.metrics}/metrics ***`);
    }
  }

  close(): void {
    for (const server of this.servers) server.close();
  }

  /**
   * Live workers with fresh counters. A worker that exits while the reports are awaited has been
   * folded into the exited totals meanwhile: it is left out, or it would be counted twice.
   */
  private async fresh(): Promise<ObservedWorker[]> {
    await Promise.all(this.workers().filter((w) => !w.exited).map((w) => w.report(REPORT_WAIT_MS)));
    this.foldLateBeats();
    return this.workers().filter((w) => !w.exited);
  }

  async stats(): Promise<unknown> {
    const workers = await this.fresh();
    const sockets = this.sockets();
    const queues = sockets.map((s) => listenQueue(s.fd));
    return statsDocument({
      version: VERSION,
      pid: process.pid,
      uid: process.getuid?.() ?? 0,
      gid: process.getgid?.() ?? 0,
      cwd: process.cwd(),
      listenQueue: queues.reduce((a, b) => a + b, 0),
      listenQueueErrors: 0,
      logDropped: this.logDropped(),
      sockets: sockets.map((s, i) => ({ name: s.name, proto: s.kind, queue: queues[i], maxQueue: s.backlog })),
      workers: workers
        .sort((a, b) => a.id - b.id)
        .map((w): WorkerSnapshot => {
          const slot = this.slots.get(w.id);
          return {
            id: w.id,
            pid: w.pid,
            // uWSGI shows a starting or stopping worker by `accepting`, its status staying idle/busy.
            accepting: w.state === 'ready',
            status: w.inflight > 0 ? 'busy' : 'idle',
            current: w.counters,
            previousRequests: slot?.previousRequests ?? 0,
            inflight: w.inflight,
            rss: this.rss(w.pid) ?? 0,
            vsz: this.vsz(w.pid) ?? 0,
            lastSpawn: Math.floor(w.spawnedAt / 1000),
            respawnCount: slot?.respawnCount ?? 0,
            appKind: w.appKind,
            loadMs: w.loadMs,
          };
        }),
    });
  }

  async metrics(): Promise<string> {
    const workers = await this.fresh();
    const totals = newCounters();
    addCounters(totals, this.exitedTotals);
    for (const w of workers) addCounters(totals, w.counters);
    return renderMetrics({
      totals,
      inflight: workers.reduce((n, w) => n + w.inflight, 0),
      workers: workers.map((w) => ({ id: w.id, pid: w.pid, rss: this.rss(w.pid) ?? 0, requests: w.counters.requests, status: w.state })),
      respawns: this.respawns,
      reloads: this.reloads,
      harakiris: this.harakiris + totals.harakiri,
      listenQueue: this.sockets().map((s) => ({ socket: s.name, queue: listenQueue(s.fd) })),
      startTime: this.startTime,
      logDropped: this.logDropped(),
    });
  }
}
