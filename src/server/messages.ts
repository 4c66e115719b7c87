import type { RequestCounters } from '../observability/counters.js';
import type { RequestLogOptions } from '../observability/request-logger.js';
import type { ListenerInfo } from './listeners.js';

/** A request running longer than a heartbeat, as reported to the master (harakiri-verbose). */
export interface SlowRequest {
  method: string;
  uri: string;
  ageMs: number;
}

/**
 * IPC between master and workers: small and rare. Nothing is sent per request; the heartbeat
 * carries the counters (once a second), and a worker's own decisions (recycle) are one message.
 */
export type WorkerMessage =
  | { type: 'ready'; appKind: string; loadMs: number }
  | { type: 'beat'; requests: number; inflight: number; slow: SlowRequest[]; counters: RequestCounters }
  | { type: 'load-error'; message: string }
  /** harakiri-verbose only (one message per request start and end, so the cost is opt-in). */
  | { type: 'request-start'; id: number; method: string; uri: string }
  | { type: 'request-end'; id: number }
  /** The worker stopped accepting (max-requests) and drains: the master starts its successor. */
  | { type: 'recycle'; reason: string };

/** stop: finish and exit; report: send a heartbeat now (the stats socket wants fresh numbers). */
export type MasterMessage = { type: 'stop' } | { type: 'report' };

/** What a worker is started with (in NUWSGI_WORKER). */
export interface WorkerSpec {
  id: number;
  app: string;
  listeners: ListenerInfo[];
  bufferSize: number;
  maxVars: number;
  socketTimeout: number;
  /** --limit-post and --max-connections, applied per connection in the worker (0: off). */
  limitPost: number;
  maxConnections: number;
  /** Serve uwsgi sockets through the native acceptor (the master checked that it loads). */
  nativeIo: boolean;
  harakiri: number;
  /** Seconds a worker left without its master may spend draining (--worker-reload-mercy). */
  mercy: number;
  /** Requests after which this worker recycles (max-requests + (id-1)*delta), 0 for never. */
  maxRequests: number;
  /** No recycle before this many seconds of life (--min-worker-lifetime). */
  minWorkerLifetime: number;
  /** Report each request's start and end to the master (--harakiri-verbose). */
  reportRequests: boolean;
  requestLog: RequestLogOptions;
  /**
   * Where the worker logs once its master is gone: --logto's path, opened then (holding the file
   * open for the worker's life would pin rotated files), else the master's stderr, inherited.
   */
  orphanLogFd: number;
  orphanLogFile?: string;
  /** The master set MALLOC_TRIM_THRESHOLD_ (malloc.ts): not for the app's own child processes. */
  mallocEnvSet?: boolean;
}

export const WORKER_SPEC_ENV = 'NUWSGI_WORKER';
export const HEARTBEAT_MS = 1000;
