/** IPC between master and workers: small, rare messages (never one per request). */
export type WorkerMessage =
  | { type: 'ready'; appKind: string; loadMs: number }
  | { type: 'beat' }
  | { type: 'load-error'; message: string };

export type MasterMessage = { type: 'stop' };

import type { ListenerInfo } from './listeners.js';

/** What a worker is started with (in NUWSGI_WORKER). */
export interface WorkerSpec {
  id: number;
  app: string;
  listeners: ListenerInfo[];
  bufferSize: number;
  maxVars: number;
  socketTimeout: number;
  harakiri: number;
  /** Seconds a worker left without its master may spend draining (--worker-reload-mercy). */
  mercy: number;
}

export const WORKER_SPEC_ENV = 'NUWSGI_WORKER';
export const HEARTBEAT_MS = 1000;
