import { unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import type { Config } from '../config/config.js';
import { log } from '../log.js';
import { VERSION } from '../version.js';
import { bindListener, removeSocketFiles, type BoundListener } from './listeners.js';
import { HEARTBEAT_MS } from './messages.js';
import { APP_LOAD_FAILED } from './worker.js';
import { WorkerProcess } from './worker-process.js';

/** Respawn delays after quick deaths: 0.1 s doubling to 10 s, so a crash loop never spins. */
const BACKOFF_BASE_MS = 100;
const BACKOFF_MAX_MS = 10_000;
/** A worker that lived less than this counts as a quick death. */
const QUICK_DEATH_MS = 2000;

function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  return signal ? `killed by signal ${signal}` : `exit code ${code}`;
}

/**
 * The master (arbiter, in gunicorn's words): binds every socket and keeps it for its whole life,
 * keeps N workers running, and turns signals into reloads and stops. It never loads the app and
 * never accepts a connection, so it stays small and cannot be blocked by one.
 */
export class Master {
  private listeners: BoundListener[] = [];
  /** The serving generation, by worker id (1..N). */
  private readonly workers = new Map<number, WorkerProcess>();
  /** Workers told to stop (reload, stop) that have not exited yet. */
  private readonly retiring = new Set<WorkerProcess>();
  /** Chain-reload replacements still loading: not serving yet, but a stop must reach them too. */
  private readonly replacements = new Set<WorkerProcess>();
  private quickDeaths = 0;
  private booting = true;
  private stopping = false;
  private reloading = false;
  private watchdog?: NodeJS.Timeout;

  constructor(private readonly config: Config) {}

  async start(): Promise<void> {
    const c = this.config;
    log(`*** Starting nuwsgi ${VERSION} (node ${process.version}) on [${new Date().toString()}] ***`);
    log(`nodename: ${os.hostname()}`);
    log(`detected number of CPU cores: ${os.availableParallelism()}`);
    log(`current working directory: ${process.cwd()}`);
    for (const spec of c.sockets) this.listeners.push(await bindListener('uwsgi', spec, c.chmodSocket));
    for (const spec of c.httpSockets) this.listeners.push(await bindListener('http', spec, c.chmodSocket));
    this.listeners.forEach((l, i) => {
      const kind = l.address.kind === 'unix' ? 'UNIX' : 'TCP';
      log(`${l.kind} socket ${i} bound to ${kind} address ${l.name} fd ${l.handle.fd}`);
    });
    if (c.pidfile) writeFileSync(c.pidfile, `${process.pid}\n`);
    log(`your mercy for graceful operations on workers is ${c.workerReloadMercy} seconds`);
    log(`*** Operational MODE: preforking (${c.processes} worker${c.processes === 1 ? '' : 's'}) ***`);
    log(`spawned nuwsgi master process (pid: ${process.pid})`);
    this.installSignals();

    const first = Array.from({ length: c.processes }, (_, i) => this.spawn(i + 1));
    const ready = await Promise.all(first.map((w) => w.whenReady(c.readyTimeout * 1000)));
    // A stop signal during boot makes the workers exit before ready: that is stop()'s to finish,
    // not an app that failed to load.
    if (this.stopping) return;
    if (!ready.every(Boolean)) {
      // Nothing half-starts: one worker that cannot load the app stops the whole server.
      log('*** no app loaded: GAME OVER ***');
      this.stopping = true; // the workers killed here are not crashes to respawn
      for (const w of this.workers.values()) w.kill('SIGKILL');
      await Promise.all(first.map((w) => w.exitedPromise()));
      this.cleanup();
      process.exit(APP_LOAD_FAILED);
    }
    this.booting = false;
    const w = first[0];
    log(`app ${c.app} (${w.appKind}) ready in ${w.loadMs} ms on ${c.processes} worker${c.processes === 1 ? '' : 's'}`);
    log(`nuwsgi is ready: ${this.listeners.map((l) => `${l.kind}://${l.name}`).join(', ')}`);
    this.watchdog = setInterval(() => this.checkHeartbeats(), HEARTBEAT_MS);
  }

  /** Start a worker; it joins the serving generation at once unless `join` is false (chain reload). */
  private spawn(id: number, join = true): WorkerProcess {
    const c = this.config;
    const worker = new WorkerProcess(
      id,
      this.listeners,
      { app: c.app, bufferSize: c.bufferSize, maxVars: c.maxVars, socketTimeout: c.socketTimeout, harakiri: c.harakiri, mercy: c.workerReloadMercy },
      c.listen,
    );
    log(`spawned nuwsgi worker ${id} (pid: ${worker.pid})`);
    if (join) this.workers.set(id, worker);
    worker.on('exit', (code: number | null, signal: NodeJS.Signals | null) => this.onExit(worker, code, signal));
    return worker;
  }

  private onExit(worker: WorkerProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.retiring.delete(worker) || this.stopping) {
      if (!this.booting) log(`worker ${worker.id} (pid: ${worker.pid}) retired (${describeExit(code, signal)})`);
      return;
    }
    // During boot start() reports a worker that never got ready; one that was ready and then
    // died is a crash like any other (ignoring it would leave its slot empty for good).
    if (this.booting && worker.state !== 'ready') return;
    if (this.workers.get(worker.id) !== worker) return; // a replacement that failed during reload
    const lived = Date.now() - worker.spawnedAt;
    log(`DAMN ! worker ${worker.id} (pid: ${worker.pid}) died, ${describeExit(code, signal)} :( trying respawn ...`);
    this.quickDeaths = lived < QUICK_DEATH_MS ? this.quickDeaths + 1 : 0;
    const delay = this.quickDeaths === 0 ? 0 : Math.min(BACKOFF_BASE_MS * 2 ** (this.quickDeaths - 1), BACKOFF_MAX_MS);
    if (delay > 0) log(`worker ${worker.id} died ${this.quickDeaths} times in a row within ${QUICK_DEATH_MS / 1000}s of its start: respawning in ${delay} ms`);
    setTimeout(() => {
      if (!this.stopping && this.workers.get(worker.id) === worker) this.respawn(worker.id);
    }, delay);
  }

  /**
   * A respawned worker serves as soon as it listens, but one whose app load hangs would sit in
   * 'starting' for ever (heartbeats only start after ready): bound it by ready-timeout, and its
   * death goes through the usual respawn with backoff.
   */
  private respawn(id: number): void {
    const worker = this.spawn(id);
    void worker.whenReady(this.config.readyTimeout * 1000).then((ok) => {
      if (ok || worker.exited || this.stopping) return;
      log(`worker ${id} (pid: ${worker.pid}) did not become ready within ready-timeout (${this.config.readyTimeout}s): SIGKILL`);
      worker.kill('SIGKILL');
    });
  }

  /** A worker whose event loop stops sending heartbeats for harakiri seconds is blocked: replace it. */
  private checkHeartbeats(): void {
    const limitMs = this.config.harakiri * 1000;
    if (limitMs <= 0) return;
    const now = Date.now();
    for (const worker of [...this.workers.values(), ...this.retiring]) {
      if (worker.state === 'starting' || worker.exited) continue;
      const silent = now - worker.lastBeat;
      if (silent > limitMs + HEARTBEAT_MS) {
        log(`HARAKIRI ON WORKER ${worker.id} (pid: ${worker.pid}): event loop blocked for ${(silent / 1000).toFixed(1)}s (harakiri ${this.config.harakiri}s) -- killing it`);
        worker.lastBeat = now; // one kill per episode
        worker.kill('SIGKILL');
      }
    }
  }

  private retire(worker: WorkerProcess): void {
    this.retiring.add(worker);
    worker.stopGracefully(this.config.workerReloadMercy * 1000, () =>
      log(`worker ${worker.id} (pid: ${worker.pid}) did not finish within worker-reload-mercy (${this.config.workerReloadMercy}s): SIGKILL`),
    );
  }

  /**
   * Chain reload: one worker at a time, a new worker must report ready before an old one is
   * retired, so the pool never shrinks and the sockets never close. A new worker that cannot
   * load the app ends the reload and the old workers keep serving.
   */
  async chainReload(): Promise<boolean> {
    if (this.reloading || this.stopping || this.booting) {
      log(this.reloading ? 'chain reload already in progress' : 'chain reload ignored: server is starting or stopping');
      return false;
    }
    this.reloading = true;
    const started = Date.now();
    log('chain reload starting');
    try {
      for (const id of [...this.workers.keys()].sort((a, b) => a - b)) {
        if (this.stopping) return false;
        const fresh = this.spawn(id, false);
        this.replacements.add(fresh);
        let loadError: string | undefined;
        fresh.once('load-error', (message: string) => (loadError = message.split('\n')[0]));
        const ready = await fresh.whenReady(this.config.readyTimeout * 1000);
        this.replacements.delete(fresh);
        if (this.stopping) return false; // stop() has already told `fresh` to go
        if (!ready) {
          const why = fresh.exited
            ? `could not load the app (${loadError ?? `exit code ${fresh.child.exitCode ?? fresh.child.signalCode}`})`
            : `did not become ready within ready-timeout (${this.config.readyTimeout}s)`;
          fresh.kill('SIGKILL');
          log(`chain reload failed: the new worker ${id} (pid: ${fresh.pid}) ${why}; keeping the old workers`);
          return false;
        }
        // Whoever holds the slot now: the worker this reload started from, or a respawn of it
        // if it died meanwhile (that respawn would otherwise keep serving, untracked).
        const old = this.workers.get(id);
        this.workers.set(id, fresh);
        if (old && !old.exited) this.retire(old);
        log(`chain reload: worker ${id} replaced (new pid: ${fresh.pid})`);
      }
      log(`chain reload done in ${Date.now() - started} ms`);
      return true;
    } finally {
      this.reloading = false;
    }
  }

  /** Graceful stop: workers finish in-flight requests (bounded by worker-reload-mercy), then exit 0. */
  async stop(signal: string): Promise<void> {
    if (this.stopping) {
      log(`${signal} received again: stopping now`);
      for (const w of this.allWorkers()) w.kill('SIGKILL');
      this.cleanup();
      process.exit(1);
    }
    this.stopping = true;
    clearInterval(this.watchdog);
    log(`${signal} received: gracefully stopping nuwsgi (waiting up to ${this.config.workerReloadMercy}s for in-flight requests)`);
    const workers = this.allWorkers();
    for (const w of workers) {
      w.stopGracefully(this.config.workerReloadMercy * 1000, () =>
        log(`worker ${w.id} (pid: ${w.pid}) did not finish within worker-reload-mercy (${this.config.workerReloadMercy}s): SIGKILL`),
      );
    }
    await Promise.all(workers.map((w) => w.exitedPromise()));
    this.cleanup();
    log('goodbye to nuwsgi.');
    process.exit(0);
  }

  private allWorkers(): WorkerProcess[] {
    return [...new Set([...this.workers.values(), ...this.retiring, ...this.replacements])].filter((w) => !w.exited);
  }

  private cleanup(): void {
    if (!this.config.vacuum) return;
    removeSocketFiles(this.listeners);
    if (this.config.pidfile) {
      try {
        unlinkSync(this.config.pidfile);
      } catch {
        // already gone
      }
    }
  }

  private installSignals(): void {
    for (const signal of ['SIGTERM', 'SIGINT', 'SIGQUIT'] as const) {
      process.on(signal, () => void this.stop(signal));
    }
    process.on('SIGHUP', () => void this.chainReload());
  }
}
