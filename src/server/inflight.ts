import type { IncomingMessage, ServerResponse } from 'node:http';
import { closeConnection } from '../bridge/close.js';
import { rawResponse } from '../bridge/raw-response.js';

export interface InflightOptions {
  harakiri: number;
  workerId: number;
  log(line: string): void;
  onIdle(): void;
}

/**
 * Requests running in this worker: the count a graceful stop waits on, and the per-request
 * harakiri deadline. The deadline is a timer in the worker, so it fires only while the event loop
 * runs; a loop that is blocked is caught by the master through missing heartbeats.
 */
export class Inflight {
  count = 0;

  constructor(private readonly options: InflightOptions) {}

  track(req: IncomingMessage, res: ServerResponse): void {
    this.count++;
    const timer = this.options.harakiri > 0 ? setTimeout(() => this.harakiri(req, res), this.options.harakiri * 1000) : undefined;
    res.once('close', () => {
      if (timer) clearTimeout(timer);
      this.count--;
      if (this.count === 0) this.options.onIdle();
    });
  }

  private harakiri(req: IncomingMessage, res: ServerResponse): void {
    const { harakiri, workerId, log } = this.options;
    log(`HARAKIRI ON WORKER ${workerId} (pid: ${process.pid}): ${req.method} ${req.url} still running after ${harakiri}s -- ${res.headersSent ? 'cutting the response' : 'answering 504'}`);
    const socket = res.socket;
    // Writes after this point are dropped quietly (a destroyed response ignores them) instead of
    // throwing "write after end" inside the app.
    (res as unknown as { destroyed: boolean }).destroyed = true;
    if (!socket || socket.destroyed) return;
    if (res.headersSent) return void socket.destroy();
    socket.write(rawResponse(504, `the request ran longer than harakiri (${harakiri}s)`));
    closeConnection(socket, 1000);
  }
}
