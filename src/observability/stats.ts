import type { RequestCounters } from './counters.js';

/** What the master knows about one worker slot, for the stats document. */
export interface WorkerSnapshot {
  id: number;
  pid: number;
  /** Takes requests (false while starting and stopping). */
  accepting: boolean;
  /** uWSGI's values only: tools match on them (uwsgitop colours busy, cheap, pause, sigN). */
  status: 'idle' | 'busy' | 'pause';
  /** Counters of the current process (uWSGI's delta_requests and friends). */
  current: RequestCounters;
  /** Requests served by earlier processes in this slot (uWSGI's requests counts the slot's life). */
  previousRequests: number;
  inflight: number;
  rss: number;
  vsz: number;
  /** Unix seconds. */
  lastSpawn: number;
  respawnCount: number;
  appKind: string;
  loadMs: number;
}

export interface SocketSnapshot {
  name: string;
  proto: 'uwsgi' | 'http';
  queue: number;
  maxQueue: number;
}

export interface StatsInput {
  version: string;
  pid: number;
  uid: number;
  gid: number;
  cwd: string;
  listenQueue: number;
  listenQueueErrors: number;
  /** Log lines lost to a failed log destination (nuwsgi's own key; uWSGI has none). */
  logDropped: number;
  sockets: SocketSnapshot[];
  workers: WorkerSnapshot[];
}

/**
 * The JSON document uWSGI's stats server emits (uWSGI 2.0 core/master_utils.c), with the same
 * keys and types, so uwsgitop and the tools written for uWSGI read nuwsgi unchanged.
 */
export function statsDocument(s: StatsInput): Record<string, unknown> {
  return {
    version: s.version,
    listen_queue: s.listenQueue,
    listen_queue_errors: s.listenQueueErrors,
    signal_queue: 0,
    log_dropped: s.logDropped,
    load: s.workers.reduce((n, w) => n + w.inflight, 0),
    pid: s.pid,
    uid: s.uid,
    gid: s.gid,
    cwd: s.cwd,
    locks: [],
    sockets: s.sockets.map((k) => ({ name: k.name, proto: k.proto, queue: k.queue, max_queue: k.maxQueue, shared: 0, can_offload: 0 })),
    workers: s.workers.map((w) => {
      const c = w.current;
      return {
        id: w.id,
        pid: w.pid,
        accepting: w.accepting ? 1 : 0,
        requests: w.previousRequests + c.requests,
        delta_requests: c.requests,
        exceptions: c.exceptions,
        harakiri_count: c.harakiri,
        signals: 0,
        signal_queue: 0,
        status: w.status,
        rss: w.rss,
        vsz: w.vsz,
        running_time: c.runningTimeUs,
        last_spawn: w.lastSpawn,
        respawn_count: w.respawnCount,
        tx: c.tx,
        avg_rt: c.avgRtUs,
        apps: [
          {
            id: 0,
            modifier1: 0,
            mountpoint: '',
            startup_time: Math.round(w.loadMs / 1000),
            requests: c.requests,
            exceptions: c.exceptions,
            chdir: s.cwd,
          },
        ],
        cores: [
          {
            id: 0,
            requests: c.requests,
            static_requests: 0,
            routed_requests: 0,
            offloaded_requests: 0,
            write_errors: c.ioErrors,
            read_errors: 0,
            in_request: w.inflight > 0 ? 1 : 0,
            vars: [],
            req_info: {},
          },
        ],
      };
    }),
  };
}
