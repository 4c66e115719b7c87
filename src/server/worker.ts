import http from 'node:http';
import net from 'node:net';
import { AppLoadError, loadApp } from '../app/load.js';
import { serveUwsgiConnection } from '../bridge/connection.js';
import { forwardUpgrades } from '../bridge/upgrade.js';
import { openSync, writeSync } from 'node:fs';
import { stdioWritten } from '../written.js';
import { log, setLogWriter } from '../log.js';
import { startOutcome, startRecord } from '../observability/capture.js';
import { countOutcome, countRequest, newCounters } from '../observability/counters.js';
import { RequestLogger } from '../observability/request-logger.js';
import { BodyGarbage } from './body-garbage.js';
import { makeDispatcher } from './dispatch.js';
import { Inflight } from './inflight.js';
import { TRIM_THRESHOLD_ENV } from './malloc.js';
import { NativeUwsgiListener } from './native-listener.js';
import { loadNative } from '../native/binding.js';
import { HEARTBEAT_MS, WORKER_SPEC_ENV, type MasterMessage, type WorkerMessage, type WorkerSpec } from './messages.js';

/** uWSGI's exit code for "the app could not be loaded". */
export const APP_LOAD_FAILED = 22;
const LINGER_MS = 5000;
/** How long a script that exports nothing may take to call listen() itself. */
const LISTEN_WAIT_MS = 5000;

function send(message: WorkerMessage): void {
  if (process.connected) process.send!(message);
}

/**
 * A worker: loads the app, accepts on the sockets the master bound (inherited fds), serves, and
 * stops when the master says so. Signals from the terminal's process group are the master's to
 * act on, so the worker ignores SIGINT and treats SIGTERM like the master's stop message.
 */
export async function runWorker(spec: WorkerSpec): Promise<void> {
  const started = performance.now();
  const servers: (net.Server | NativeUwsgiListener)[] = [];
  let stopping = false;

  const counters = newCounters();
  const requestLog = new RequestLogger(spec.requestLog);
  const beat = () => ({ type: 'beat', requests: inflight.done, inflight: inflight.count, slow: inflight.slow(), counters }) as const;
  const inflight = new Inflight({
    harakiri: spec.harakiri,
    workerId: spec.id,
    log,
    onHarakiri: () => counters.harakiri++,
    ...(spec.reportRequests && {
      onStart: (r) => send({ type: 'request-start', id: r.id, method: r.method, uri: r.uri }),
      onEnd: (r) => send({ type: 'request-end', id: r.id }),
    }),
    onDone: (running) => {
      if (stopping) {
        if (running === 0) maybeExit();
      } else if (spec.maxRequests > 0 && inflight.done >= spec.maxRequests) {
        maybeRecycle();
      }
    },
  });

  // max-requests, uWSGI's way: checked after each request, never before min-worker-lifetime.
  // The worker stops accepting at once and tells the master, which starts its successor.
  const bornAt = Date.now();
  const maybeRecycle = () => {
    if (Date.now() - bornAt < spec.minWorkerLifetime * 1000) return;
    log(`...The work of process ${process.pid} is done (max-requests ${spec.maxRequests} reached). Seeya!`);
    send({ type: 'recycle', reason: 'max-requests' });
    stop();
  };

  let openServers = 0;
  let exitCode = 0;
  // The last counters reach the master before the process goes, so totals never run backwards.
  const exit = (code: number) => {
    requestLog.flush();
    let leaving = false;
    // Our last lines may still sit in stdout/stderr while the master waits on a slow log reader.
    const leave = () => {
      if (leaving) return;
      leaving = true;
      void stdioWritten(spec.mercy * 1000).then(() => process.exit(code));
    };
    if (!process.connected) return leave();
    process.send!(beat(), leave);
    setTimeout(leave, 1000).unref();
  };
  let exiting = false;
  const maybeExit = () => {
    if (openServers === 0 && inflight.count === 0 && !exiting) {
      exiting = true;
      exit(exitCode);
    }
  };
  const stop = () => {
    if (stopping) return;
    stopping = true;
    // Bounded even when a request never ends (its handler may have died with the exception).
    setTimeout(() => {
      log(`worker ${spec.id} (pid: ${process.pid}): ${inflight.count} requests still running after worker-reload-mercy (${spec.mercy}s) -- exiting`);
      process.exit(exitCode || 1);
    }, spec.mercy * 1000).unref();
    // One turn later: connections the kernel has already queued for us and that this poll phase
    // is about to accept get served; closing first would reset them.
    setImmediate(() => {
      const inFlight = inflight.count;
      for (const server of servers) {
        // close() stops accepting; 'close' comes once this worker's connections have ended.
        server.close(() => {
          openServers--;
          maybeExit();
        });
        if (server instanceof http.Server) server.closeIdleConnections();
      }
      // Said once the listening descriptors are closed (both close() calls close them at once):
      // from this line on a connect is refused, never queued into a socket nobody accepts from.
      log(`worker ${spec.id} (pid: ${process.pid}) stopped accepting, ${inFlight} request${inFlight === 1 ? '' : 's'} in flight`);
      maybeExit();
    });
  };

  process.on('SIGINT', () => {});
  process.on('SIGTERM', stop);
  process.on('SIGHUP', () => {});
  // The master is gone (killed, even with SIGKILL): finish what is in flight, then leave. No
  // master is left to enforce worker-reload-mercy, so stop() bounds the drain itself.
  process.on('disconnect', () => {
    // Our output went through the master; now write whole lines to the log ourselves.
    let fd = spec.orphanLogFd;
    try {
      if (spec.orphanLogFile) fd = openSync(spec.orphanLogFile, 'a');
    } catch {
      // keep the inherited descriptor
    }
    setLogWriter((text) => {
      try {
        writeSync(fd, typeof text === 'string' ? Buffer.from(text) : text);
      } catch {
        // the log is gone too
      }
    });
    stop();
  });
  process.on('message', (message: MasterMessage) => {
    if (message.type === 'stop') stop();
    else if (message.type === 'report') send(beat());
  });
  // The master reads our output; if it is gone, writes must not kill a draining worker.
  process.stdout.on('error', () => {});
  process.stderr.on('error', () => {});
  // Node's rule: after an uncaught exception the process state is unknown, so do not go on as if
  // nothing happened. Stop accepting, let the other requests finish (bounded by mercy), exit 1;
  // the master respawns a clean worker. Unhandled rejections are treated alike, as Node does.
  const onFatal = (kind: string) => (error: unknown) => {
    log(`${kind} in worker ${spec.id} (pid: ${process.pid}): ${(error as Error)?.stack ?? error}`);
    if (stopping) return;
    log(`worker ${spec.id} (pid: ${process.pid}) stops accepting and exits once its ${inflight.count} requests are done`);
    exitCode = 1;
    stop();
  };
  process.on('uncaughtException', onFatal('uncaught exception'));
  process.on('unhandledRejection', onFatal('unhandled promise rejection'));

  let app;
  try {
    app = await loadApp(spec.app, LISTEN_WAIT_MS);
  } catch (error) {
    const message = error instanceof AppLoadError ? error.message : String((error as Error)?.stack ?? error);
    log(`worker ${spec.id}: ${message}`);
    send({ type: 'load-error', message });
    await stdioWritten(spec.mercy * 1000);
    process.exit(APP_LOAD_FAILED);
  }

  // Counted and logged in Inflight's 'close' listener before its own bookkeeping: that may end a
  // stopping worker, and the last request must not be lost from the log and the counters.
  const track = requestLog.enabled
    ? (req: http.IncomingMessage, res: http.ServerResponse) => {
        const finish = startRecord(req, res, spec.id);
        inflight.track(req, res, () => {
          const record = finish({ requestCount: inflight.done + 1, globalCount: inflight.done + 1 });
          if (spec.requestLog.memoryReport) record.rss = process.memoryUsage.rss();
          countRequest(counters, record);
          requestLog.log(record);
        });
      }
    : // No request can be logged (--disable-logging without log-* filters): counters only.
      (req: http.IncomingMessage, res: http.ServerResponse) => {
        const finish = startOutcome(req, res);
        inflight.track(req, res, () => countOutcome(counters, finish()));
      };
  const bodies = new BodyGarbage();
  const before = (req: http.IncomingMessage, res: http.ServerResponse) => {
    bodies.watch(req);
    track(req, res);
  };
  const dispatch = makeDispatcher(app, log, before, () => counters.exceptions++);
  const connectionOptions = {
    bufferSize: spec.bufferSize,
    maxVars: spec.maxVars,
    socketTimeoutMs: spec.socketTimeout * 1000,
    limitPost: spec.limitPost,
    maxConnections: spec.maxConnections,
    lingerMs: LINGER_MS,
    log,
    dispatch,
  };

  const native = spec.nativeIo ? loadNative().binding : undefined;
  await Promise.all(
    spec.listeners.map(
      (listener) =>
        new Promise<void>((resolve, reject) => {
          if (native && listener.kind === 'uwsgi') {
            // The acceptor polls the inherited fd itself: no net.Server, no listen().
            servers.push(new NativeUwsgiListener(native, listener.fd, listener.backlog, connectionOptions));
            openServers++;
            return resolve();
          }
          const server =
            listener.kind === 'uwsgi'
              ? net.createServer((socket) => serveUwsgiConnection(socket, connectionOptions))
              : http.createServer({ requestTimeout: 0 }, dispatch);
          if (server instanceof http.Server) forwardUpgrades(server);
          servers.push(server);
          openServers++;
          server.once('error', reject);
          // net.Server's own listen: http.Server.prototype.listen is the app's capture stub here.
          const listen = net.Server.prototype.listen as (this: net.Server, ...args: unknown[]) => net.Server;
          listen.call(server, { fd: listener.fd }, listener.backlog, () => {
            server.off('error', reject);
            resolve();
          });
        }),
    ),
  );

  setInterval(() => send(beat()), HEARTBEAT_MS).unref();
  send({ type: 'ready', appKind: app.kind, loadMs: Math.round(performance.now() - started) });
}

/** Entry point of the worker process. */
export function workerMain(): void {
  const spec = JSON.parse(process.env[WORKER_SPEC_ENV]!) as WorkerSpec;
  delete process.env[WORKER_SPEC_ENV];
  // glibc has read it; the app's own child processes get the environment the user gave.
  if (spec.mallocEnvSet) delete process.env[TRIM_THRESHOLD_ENV];
  runWorker(spec).catch((error: Error) => {
    log(`worker ${spec.id} failed to start: ${error.stack ?? error}`);
    process.exit(1);
  });
}
