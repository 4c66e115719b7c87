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
  private readonly startTime = Math.floor(Date.now() / 1000);
  respawns = 0;
  reloads = 0;
  harakiris = 0;
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

  private async fresh(): Promise<ObservedWorker[]> {
    const live = this.workers().filter((w) => !w.exited);
    await Promise.all(live.map((w) => w.report(REPORT_WAIT_MS)));
    return live;
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
      sockets: sockets.map((s, i) => ({ name: s.name, proto: s.kind, queue: queues[i], maxQueue: s.backlog })),
      workers: workers
        .sort((a, b) => a.id - b.id)
        .map((w): WorkerSnapshot => {
          const slot = this.slots.get(w.id);
          return {
            id: w.id,
            pid: w.pid,
            accepting: w.state === 'ready',
            status: w.state === 'ready' ? (w.inflight > 0 ? 'busy' : 'idle') : w.state === 'starting' ? 'starting' : 'stopping',
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
    });
  }
}
