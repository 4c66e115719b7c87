import { renameSync } from 'node:fs';
import os from 'node:os';
import type { Config } from '../config/config.js';
import { log, setLogWriter } from '../log.js';
import { LogSink } from '../observability/log-sink.js';
import { Observatory } from '../observability/observatory.js';
import { ADDON_PATH, loadNative } from '../native/binding.js';
import { VERSION } from '../version.js';
import { MasterFifo } from './fifo.js';
import { chownPath, dropPrivileges } from './identity.js';
import { bindListener, closeListeners, removeSocketFiles, socketFileState, unsafeDirectory, type BoundListener } from './listeners.js';
import { HEARTBEAT_MS } from './messages.js';
import { removeFile, writePidfile } from './pidfile.js';
import { rssBytes, somaxconn, vszBytes } from './proc.js';
import { TouchWatcher } from './touch.js';
import { APP_LOAD_FAILED } from './worker.js';
import { WorkerProcess } from './worker-process.js';

/** Respawn delays after quick deaths: 0.1 s doubling to 10 s, so a crash loop never spins. */
const BACKOFF_BASE_MS = 100;
const BACKOFF_MAX_MS = 10_000;
/** A worker that served less than this (or never got ready) counts as a quick death. */
const QUICK_DEATH_MS = 2000;
const MB = 1024 * 1024;
const DEFAULT_LISTEN = 1024;

function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  return signal ? `killed by signal ${signal}` : `exit code ${code}`;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/**
 * The master (arbiter, in gunicorn's words): binds every socket and keeps it for its whole life,
 * keeps the pool of workers running, and turns signals, FIFO letters and touched files into
 * reloads, resizes and stops. It never loads the app and never accepts a connection, so it stays
 * small and cannot be blocked by one. It never re-executes itself: sockets never close.
 */
export class Master {
  private listeners: BoundListener[] = [];
  /** The serving generation, by worker id. */
  private readonly workers = new Map<number, WorkerProcess>();
  /** Workers told to stop (reload, recycle, shrink) that have not exited yet. */
  private readonly retiring = new Set<WorkerProcess>();
  /** Successors still loading: not serving yet, but a stop must reach them too. */
  private readonly replacements = new Set<WorkerProcess>();
  /** A slot being replaced: further replacements of it wait for (and share) this one. */
  private readonly slotReplacement = new Map<number, Promise<boolean>>();
  private quickDeaths = 0;
  private booting = true;
  /** Whether workers serve uwsgi sockets through the native acceptor (decided once, at boot). */
  private nativeIo = false;
  private stopping = false;
  private reloading = false;
  private paused = false;
  private supervisor?: NodeJS.Timeout;
  private fifo?: MasterFifo;
  private touch: TouchWatcher[] = [];
  private readonly sink: LogSink;
  private readonly observatory: Observatory;

  constructor(private readonly config: Config) {
    this.sink = new LogSink(config.logto);
    this.observatory = new Observatory(
      () => this.allWorkers(),
      () => this.listeners.map((l) => ({ name: l.name, kind: l.kind, fd: l.handle.fd, backlog: config.listen })),
      rssBytes,
      vszBytes,
    );
    this.observatory.logDropped = () => this.sink.dropped;
  }

  // ---- startup -------------------------------------------------------------------------------

  async start(): Promise<void> {
    const c = this.config;
    setLogWriter((text) => this.sink.write(text));
    this.sink.start();
    log(`*** Starting nuwsgi ${VERSION} (node ${process.version}) on [${new Date().toString()}] ***`);
    log(`nodename: ${os.hostname()}`);
    log(`detected number of CPU cores: ${os.availableParallelism()}`);
    log(`current working directory: ${process.cwd()}`);
    if (c.dieOnTerm) log('die-on-term: accepted for uWSGI compatibility; SIGTERM always stops nuwsgi gracefully');
    this.checkBacklog();
    if (c.umask !== undefined) process.umask(c.umask);
    for (const spec of c.sockets) this.listeners.push(await bindListener('uwsgi', spec, c.chmodSocket));
    for (const spec of c.httpSockets) this.listeners.push(await bindListener('http', spec, c.chmodSocket));
    this.listeners.forEach((l, i) => {
      const kind = l.address.kind === 'unix' ? 'UNIX' : 'TCP';
      log(`${l.kind} socket ${i} bound to ${kind} address ${l.name} fd ${l.handle.fd}`);
      if (c.chownSocket && l.address.kind === 'unix') chownPath(l.address.path, c.chownSocket);
      const unsafe = unsafeDirectory(l);
      if (unsafe) log(unsafe);
    });
    log(`your server socket listen backlog is limited to ${c.listen} connections`);
    await this.observatory.start(c, log);
    if (c.pidfile) {
      log(`writing pidfile to ${c.pidfile}`);
      writePidfile(c.pidfile);
    }
    const identity = dropPrivileges(c.uid, c.gid);
    if (identity) log(`setuid/setgid done: now running as ${identity}`);
    else if (process.getuid?.() === 0) log('*** WARNING: you are running nuwsgi as root !!! (use the --uid flag) ***');
    log(`your mercy for graceful operations on workers is ${c.workerReloadMercy} seconds`);
    log(`*** Operational MODE: preforking (${plural(c.processes, 'worker')}) ***`);
    this.nativeIo = this.chooseIo();
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
      await this.sink.flush(c.workerReloadMercy * 1000);
      process.exit(APP_LOAD_FAILED);
    }
    this.booting = false;
    const w = first[0];
    log(`app ${c.app} (${w.appKind}) ready in ${w.loadMs} ms on ${plural(c.processes, 'worker')}`);
    if (c.safePidfile) writePidfile(c.safePidfile);
    this.startControls();
    this.supervisor = setInterval(() => this.supervise(), HEARTBEAT_MS);
    log(`nuwsgi is ready: ${this.listeners.map((l) => `${l.kind}://${l.name}`).join(', ')}`);
  }

  /** One line on how uwsgi sockets are served: the native acceptor if built and wanted. */
  private chooseIo(): boolean {
    if (!this.listeners.some((l) => l.kind === 'uwsgi')) return false;
    if (!this.config.nativeIo) {
      log('uwsgi sockets: pure TypeScript path (--no-native-io)');
      return false;
    }
    const { binding, error } = loadNative();
    if (binding) log(`uwsgi sockets: native acceptor (${ADDON_PATH})`);
    else log(`uwsgi sockets: pure TypeScript path; the native acceptor is not available: ${error}`);
    return Boolean(binding);
  }

  /** uWSGI refuses a backlog the kernel would silently cut; so does nuwsgi, but clamps its own default. */
  private checkBacklog(): void {
    const max = somaxconn();
    if (max === undefined || this.config.listen <= max) return;
    if (this.config.listen === DEFAULT_LISTEN) {
      this.config.listen = max;
      return;
    }
    throw new Error(`Listen queue size ${this.config.listen} is greater than the system max net.core.somaxconn (${max}): lower --listen or raise the sysctl`);
  }

  private startControls(): void {
    const c = this.config;
    this.fifo = new MasterFifo(c.masterFifo, (letter) => this.onFifo(letter), log);
    this.fifo.start();
    const watch = (files: string[], what: string, action: () => void) => {
      const watcher = new TouchWatcher(
        files,
        (file) => {
          log(`*** ${file} has been touched... ${what} !!! ***`);
          action();
        },
        log,
      );
      watcher.start();
      this.touch.push(watcher);
    };
    watch(c.touchReload, 'chain reloading workers', () => void this.chainReload());
    watch(c.touchChainReload, 'chain reloading workers', () => void this.chainReload());
    watch(c.touchWorkersReload, 'reloading all workers', () => void this.reloadAll(true));
    watch(c.touchLogreopen, 'reopening the log', () => log(this.sink.reopen()));
    watch(c.touchLogrotate, 'rotating the log', () => log(this.sink.rotate()));
  }

  // ---- workers -------------------------------------------------------------------------------

  /** Start a worker; it joins the serving generation at once unless `join` is false. */
  private spawn(id: number, join = true): WorkerProcess {
    const c = this.config;
    const worker = new WorkerProcess(
      id,
      this.listeners,
      {
        app: c.app,
        bufferSize: c.bufferSize,
        maxVars: c.maxVars,
        socketTimeout: c.socketTimeout,
        limitPost: c.limitPost,
        maxConnections: c.maxConnections,
        nativeIo: this.nativeIo,
        harakiri: c.harakiri,
        mercy: c.workerReloadMercy,
        // Staggered so workers started together do not all recycle together.
        maxRequests: c.maxRequests > 0 ? c.maxRequests + (id - 1) * c.maxRequestsDelta : 0,
        minWorkerLifetime: c.minWorkerLifetime,
        reportRequests: c.harakiri > 0 && c.harakiriVerbose,
        orphanLogFile: c.logto,
        requestLog: {
          disableLogging: c.disableLogging,
          log4xx: c.log4xx,
          log5xx: c.log5xx,
          logSlowMs: c.logSlow,
          logBig: c.logBig,
          logZero: c.logZero,
          logFormat: c.logFormat,
          logFormatJson: c.logFormatJson,
          logMicros: c.logMicros,
          memoryReport: c.memoryReport,
        },
      },
      c.listen,
      2,
    );
    log(`spawned nuwsgi worker ${id} (pid: ${worker.pid})`);
    this.sink.follow(worker.child.stdout!);
    this.sink.follow(worker.child.stderr!);
    this.observatory.spawned(id);
    if (join) this.workers.set(id, worker);
    worker.on('exit', (code: number | null, signal: NodeJS.Signals | null) => this.onExit(worker, code, signal));
    worker.on('recycle', (reason: string) => this.onSelfRecycle(worker, reason));
    return worker;
  }

  private onExit(worker: WorkerProcess, code: number | null, signal: NodeJS.Signals | null): void {
    this.observatory.exited(worker);
    if (this.retiring.delete(worker)) {
      log(`worker ${worker.id} killed successfully (pid: ${worker.pid}, ${describeExit(code, signal)})`);
      return;
    }
    if (this.stopping) return;
    // During boot start() reports a worker that never got ready; one that was ready and then
    // died is a crash like any other (ignoring it would leave its slot empty for good).
    if (this.booting && worker.state !== 'ready') return;
    if (this.workers.get(worker.id) !== worker) return; // a successor that failed to start
    log(`DAMN ! worker ${worker.id} (pid: ${worker.pid}) died, ${describeExit(code, signal)} :( trying respawn ...`);
    // Counted from ready, not spawn: an app that loads for seconds and then dies at once is a
    // crash loop all the same.
    this.quickDeaths = worker.servingFor * 1000 < QUICK_DEATH_MS ? this.quickDeaths + 1 : 0;
    const limit = this.config.crashLoopLimit;
    if (limit > 0 && this.quickDeaths >= limit) return void this.giveUp();
    const delay = this.quickDeaths === 0 ? 0 : Math.min(BACKOFF_BASE_MS * 2 ** (this.quickDeaths - 1), BACKOFF_MAX_MS);
    if (delay > 0) log(`worker respawning too fast !!! ${plural(this.quickDeaths, 'death')} in a row within ${QUICK_DEATH_MS / 1000}s of start: respawning in ${delay} ms`);
    setTimeout(() => {
      if (!this.stopping && this.workers.get(worker.id) === worker) this.respawn(worker.id);
    }, delay);
  }

  /**
   * A respawned worker serves as soon as it listens, but one whose app load hangs would sit in
   * 'starting' for ever (heartbeats only start after ready): bound it by ready-timeout, and its
   * death goes through the usual respawn with backoff.
   */
  private respawn(id: number): WorkerProcess {
    const worker = this.spawn(id);
    void worker.whenReady(this.config.readyTimeout * 1000).then((ok) => {
      if (ok || worker.exited || this.stopping) return;
      log(`worker ${id} (pid: ${worker.pid}) did not become ready within ready-timeout (${this.config.readyTimeout}s): SIGKILL`);
      worker.kill('SIGKILL');
    });
    return worker;
  }

  private giveUp(): void {
    const limit = this.config.crashLoopLimit;
    log(`*** ${limit} workers in a row died within ${QUICK_DEATH_MS / 1000}s of starting: the app keeps crashing, giving up (crash-loop-limit ${limit}) ***`);
    this.stopping = true;
    clearInterval(this.supervisor);
    const workers = this.allWorkers();
    for (const w of workers) w.kill('SIGKILL');
    void Promise.all(workers.map((w) => w.exitedPromise())).then(async () => {
      this.cleanup();
      await this.sink.flush(this.config.workerReloadMercy * 1000);
      process.exit(1);
    });
  }

  private retire(worker: WorkerProcess): void {
    if (worker.exited) return;
    this.retiring.add(worker);
    log(`Gracefully killing worker ${worker.id} (pid: ${worker.pid})...`);
    worker.stopGracefully(this.config.workerReloadMercy * 1000, () =>
      log(`worker ${worker.id} (pid: ${worker.pid}) is taking too much time to die...NO MERCY !!! (worker-reload-mercy ${this.config.workerReloadMercy}s)`),
    );
  }

  /** max-requests: the worker has stopped accepting and drains itself; its successor starts now. */
  private onSelfRecycle(worker: WorkerProcess, reason: string): void {
    if (this.stopping || this.workers.get(worker.id) !== worker) return;
    this.retiring.add(worker);
    worker.stopGracefully(this.config.workerReloadMercy * 1000, () =>
      log(`worker ${worker.id} (pid: ${worker.pid}) is taking too much time to die...NO MERCY !!!`),
    );
    const successor = this.respawn(worker.id);
    log(`Respawned nuwsgi worker ${worker.id} (new pid: ${successor.pid}) (${reason})`);
  }

  /**
   * Replace one slot without shrinking the pool: start the successor, wait until it is ready,
   * then retire whoever holds the slot then (the worker this started from, or a respawn of it).
   * A successor that cannot start is killed and the old worker keeps serving.
   */
  private replaceSlot(id: number, reason: string): Promise<boolean> {
    const pending = this.slotReplacement.get(id);
    if (pending) return pending;
    const run = (async () => {
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
        log(`${reason} failed: the new worker ${id} (pid: ${fresh.pid}) ${why}; keeping the old workers`);
        return false;
      }
      const old = this.workers.get(id);
      if (!old) {
        // The pool shrank (SIGTTOU, FIFO -) while the successor loaded: the slot is gone, so is it.
        this.retire(fresh);
        return true;
      }
      this.workers.set(id, fresh);
      if (old !== fresh) this.retire(old);
      log(`${reason}: worker ${id} replaced (new pid: ${fresh.pid})`);
      return true;
    })();
    this.slotReplacement.set(id, run);
    void run.finally(() => this.slotReplacement.delete(id));
    return run;
  }

  private slots(): number[] {
    return [...this.workers.keys()].sort((a, b) => a - b);
  }

  // ---- reloads -------------------------------------------------------------------------------

  private beginReload(what: string): boolean {
    if (this.reloading || this.stopping || this.booting) {
      log(this.reloading ? `${what} ignored: a reload is already in progress` : `${what} ignored: server is starting or stopping`);
      return false;
    }
    // A new worker would serve while the pool is paused, and a frozen one cannot drain.
    if (this.paused) {
      log(`${what} ignored: nuwsgi is paused (master FIFO p resumes)`);
      return false;
    }
    this.reloading = true;
    return true;
  }

  /**
   * Chain reload (SIGHUP, FIFO r/c, touch-reload): one worker at a time, a new worker must report
   * ready before an old one is retired, so the pool never shrinks and the sockets never close. A
   * new worker that cannot load the app ends the reload and the old workers keep serving.
   */
  async chainReload(): Promise<boolean> {
    if (!this.beginReload('chain reload')) return false;
    const started = Date.now();
    log('chain reload starting');
    try {
      for (const id of this.slots()) {
        if (this.stopping) return false;
        if (!this.workers.has(id)) continue; // removed by a shrink meanwhile
        log(`chain next victim is worker ${id}`);
        if (!(await this.replaceSlot(id, 'chain reload'))) return false;
      }
      log(`chain reloading complete in ${Date.now() - started} ms`);
      this.observatory.reloads++;
      return true;
    } finally {
      this.reloading = false;
    }
  }

  /**
   * Reload every worker at once (FIFO w / W / R, touch-workers-reload). Graceful: all successors
   * are started together and the old workers retired only once every successor is ready (nothing
   * changes if one fails). Brutal: the old workers are killed at once, in-flight requests lost.
   */
  async reloadAll(graceful: boolean): Promise<boolean> {
    if (!this.beginReload(graceful ? 'graceful reload of all workers' : 'brutal reload')) return false;
    const started = Date.now();
    try {
      if (!graceful) {
        log('...brutally killing workers...');
        for (const id of this.slots()) {
          const old = this.workers.get(id)!;
          this.retiring.add(old);
          old.kill('SIGKILL');
          this.respawn(id);
        }
        return true;
      }
      log('...gracefully reloading all workers...');
      const ok = await Promise.all(this.slots().map((id) => this.replaceSlot(id, 'reload of all workers')));
      if (ok.every(Boolean)) {
        log(`all workers reloaded in ${Date.now() - started} ms`);
        this.observatory.reloads++;
      }
      return ok.every(Boolean);
    } finally {
      this.reloading = false;
    }
  }

  // ---- pool size -----------------------------------------------------------------------------

  /** SIGTTIN / FIFO +: one more worker, in the lowest free slot. */
  private grow(): void {
    if (this.stopping || this.booting) return;
    if (this.paused) return log('pool grow ignored: nuwsgi is paused (master FIFO p resumes)');
    let id = 1;
    while (this.workers.has(id)) id++;
    this.respawn(id);
    log(`pool grows to ${plural(this.workers.size, 'worker')}`);
  }

  /** SIGTTOU / FIFO -: one worker fewer (the highest slot, gracefully), never below one. */
  private shrink(): void {
    if (this.stopping || this.booting) return;
    if (this.paused) return log('pool shrink ignored: nuwsgi is paused (master FIFO p resumes)');
    if (this.workers.size <= 1) return log('pool shrink ignored: nuwsgi keeps at least one worker');
    const id = this.slots().at(-1)!;
    const worker = this.workers.get(id)!;
    this.workers.delete(id);
    this.retire(worker);
    log(`pool shrinks to ${plural(this.workers.size, 'worker')}`);
  }

  // ---- supervision (once a second) -------------------------------------------------------------

  private supervise(): void {
    if (this.stopping || this.paused) return;
    this.checkSocketFiles();
    const now = Date.now();
    for (const worker of [...this.workers.values(), ...this.retiring]) {
      if (worker.state === 'starting' || worker.exited || worker.condemned) continue;
      this.checkHeartbeat(worker, now - worker.lastBeat);
    }
    for (const worker of this.workers.values()) {
      if (worker.state !== 'ready' || worker.condemned || this.slotReplacement.has(worker.id)) continue;
      this.checkRecycle(worker);
    }
  }

  /**
   * A unix socket file deleted while running (a cleanup job, a second instance's vacuum) leaves
   * the server unreachable though every process is fine. Notice it within a second, bind the
   * path again, and chain-reload so the workers accept on the new socket. A file that another
   * program put in its place is not touched: that is logged, loudly, once.
   */
  private socketFileWarned = new Set<string>();
  private rebinding = false;
  private checkSocketFiles(): void {
    if (this.rebinding) return;
    this.listeners.forEach((l, i) => {
      if (l.address.kind !== 'unix') return;
      const state = socketFileState(l);
      if (state === 'ours') return;
      const path = l.address.path;
      if (this.socketFileWarned.has(path)) return;
      if (state === 'replaced') {
        log(`*** unix socket ${path} was replaced by another file while running: nginx no longer reaches nuwsgi through it; not touching it ***`);
        this.socketFileWarned.add(path);
        return;
      }
      log(`*** unix socket ${path} was removed while running: re-creating it ***`);
      this.rebinding = true;
      // Bound under a temporary name and renamed into place once workers accept on it, so the
      // path never names a socket nobody listens on (nginx would get 'connection refused').
      const staging = `${path}.nuwsgi-rebind`;
      void bindListener(l.kind, staging, this.config.chmodSocket)
        .then(async (fresh) => {
          if (this.config.chownSocket) chownPath(staging, this.config.chownSocket);
          this.listeners[i] = { ...fresh, address: l.address, name: l.name };
          // The old descriptor directly: closing its handle would unlink the path.
          closeListeners([l]);
          log(`${l.kind} socket ${i} re-bound to UNIX address ${path} fd ${fresh.handle.fd}`);
          await this.chainReload();
          renameSync(staging, path);
        })
        .catch((error: Error) => {
          // Said once: retrying every second (after --uid, say) would only fill the log.
          this.socketFileWarned.add(path);
          log(`cannot re-create unix socket ${path}: ${error.message}; nginx cannot reach nuwsgi through it until a restart`);
        })
        .finally(() => (this.rebinding = false));
    });
  }

  /**
   * A worker whose event loop sends no heartbeat is blocked: past harakiri it is killed (after
   * SIGTERM and harakiri-graceful-timeout when set), past worker-heartbeat even when idle.
   */
  private checkHeartbeat(worker: WorkerProcess, silentMs: number): void {
    const c = this.config;
    const silent = (silentMs / 1000).toFixed(1);
    if (c.harakiri > 0 && silentMs > c.harakiri * 1000 + HEARTBEAT_MS) {
      worker.condemned = true;
      log(`*** HARAKIRI ON WORKER ${worker.id} (pid: ${worker.pid}, try: 1) ***`);
      this.observatory.harakiris++;
      log(`HARAKIRI: event loop of worker ${worker.id} blocked for ${silent}s (harakiri ${c.harakiri}s); ${plural(worker.inflight, 'request')} in flight at its last heartbeat`);
      if (c.harakiriVerbose) {
        const now = Date.now();
        log(`HARAKIRI !!! worker ${worker.id} status !!!`);
        for (const r of worker.running.values()) log(`HARAKIRI [worker ${worker.id}] ${r.method} ${r.uri} running for ${((now - r.start) / 1000).toFixed(1)}s`);
        log(`HARAKIRI !!! end of worker ${worker.id} status !!!`);
      }
      this.kill(worker, c.harakiriGracefulTimeout);
      return;
    }
    if (c.workerHeartbeat > 0 && silentMs > c.workerHeartbeat * 1000) {
      worker.condemned = true;
      log(`worker ${worker.id} (pid: ${worker.pid}) sent no heartbeat for ${silent}s (worker-heartbeat ${c.workerHeartbeat}s): event loop stuck, killing it`);
      this.kill(worker, 0);
    }
  }

  /** SIGKILL, or SIGTERM first and SIGKILL after `graceSeconds` (a loop that frees itself exits cleanly). */
  private kill(worker: WorkerProcess, graceSeconds: number): void {
    if (graceSeconds <= 0) return worker.kill('SIGKILL');
    worker.kill('SIGTERM');
    const timer = setTimeout(() => {
      if (worker.exited) return;
      log(`*** HARAKIRI ON WORKER ${worker.id} (pid: ${worker.pid}, try: 2) *** still blocked after harakiri-graceful-timeout (${graceSeconds}s): SIGKILL`);
      worker.kill('SIGKILL');
    }, graceSeconds * 1000);
    worker.once('exit', () => clearTimeout(timer));
  }

  /** Recycling the master decides: worker lifetime and memory, sampled every second. */
  private checkRecycle(worker: WorkerProcess): void {
    const c = this.config;
    if (c.evilReloadOnRss > 0 || c.reloadOnRss > 0) {
      const rss = rssBytes(worker.pid) ?? 0;
      if (c.evilReloadOnRss > 0 && rss > c.evilReloadOnRss * MB) {
        worker.condemned = true;
        log(`[evil-reload-on-rss] worker ${worker.id} (pid: ${worker.pid}) rss usage ${(rss / MB).toFixed(1)} MB is above ${c.evilReloadOnRss} MB: SIGKILL`);
        return worker.kill('SIGKILL');
      }
      if (c.reloadOnRss > 0 && rss > c.reloadOnRss * MB && worker.age >= c.minWorkerLifetime) {
        log(`worker ${worker.id} (pid: ${worker.pid}) rss usage ${(rss / MB).toFixed(1)} MB is above reload-on-rss ${c.reloadOnRss} MB: recycling it`);
        return void this.replaceSlot(worker.id, 'reload-on-rss');
      }
    }
    if (c.maxWorkerLifetime > 0 && worker.age >= c.maxWorkerLifetime + (worker.id - 1) * c.maxWorkerLifetimeDelta) {
      log(`worker ${worker.id} (pid: ${worker.pid}) lifetime reached (max-worker-lifetime ${c.maxWorkerLifetime}s): recycling it`);
      void this.replaceSlot(worker.id, 'max-worker-lifetime');
    }
  }

  // ---- stopping ------------------------------------------------------------------------------

  /**
   * Graceful (SIGTERM, FIFO q): workers stop accepting and finish in-flight requests, bounded by
   * worker-reload-mercy, then exit 0. Fast (SIGINT, SIGQUIT, FIFO Q, or a second signal): workers
   * are killed at once.
   */
  async stop(trigger: string, graceful: boolean): Promise<void> {
    if (this.stopping) {
      if (graceful) return;
      log(`${trigger}: stopping now`);
      for (const w of this.allWorkers()) w.kill('SIGKILL');
      return;
    }
    this.stopping = true;
    clearInterval(this.supervisor);
    for (const watcher of this.touch) watcher.stop();
    if (this.paused) this.pause(false);
    // Stop taking connections at the kernel before the drain: once the workers close their copies
    // of the socket, the master's copy would leave it listening with nobody accepting, and
    // connections queued there are reset at exit (nginx cannot retry a POST it has sent).
    // Refused connects instead make nginx try its next upstream at once.
    closeListeners(this.listeners);
    const workers = this.allWorkers();
    if (graceful) {
      log(`${trigger}: graceful shutdown triggered... (waiting up to ${this.config.workerReloadMercy}s for in-flight requests)`);
      for (const w of workers) {
        w.stopGracefully(this.config.workerReloadMercy * 1000, () =>
          log(`worker ${w.id} (pid: ${w.pid}) is taking too much time to die...NO MERCY !!!`),
        );
      }
    } else {
      log(`${trigger}: ...killing workers...`);
      for (const w of workers) w.kill('SIGKILL');
    }
    await Promise.all(workers.map((w) => w.exitedPromise()));
    this.cleanup();
    log('goodbye to nuwsgi.');
    await this.sink.flush(this.config.workerReloadMercy * 1000);
    process.exit(0);
  }

  private allWorkers(): WorkerProcess[] {
    return [...new Set([...this.workers.values(), ...this.retiring, ...this.replacements])].filter((w) => !w.exited);
  }

  private cleanup(): void {
    const c = this.config;
    this.fifo?.close(c.vacuum);
    this.observatory.close();
    this.sink.stop();
    if (!c.vacuum) return;
    removeSocketFiles(this.listeners);
    for (const l of this.listeners) if (l.address.kind === 'unix') log(`VACUUM: unix socket ${l.address.path} removed.`);
    for (const file of [c.pidfile, c.safePidfile]) if (file) removeFile(file);
  }

  // ---- controls ------------------------------------------------------------------------------

  /** FIFO p / SIGTSTP-like: freeze every worker (requests wait in the listen queue), or thaw them. */
  private pause(on: boolean): void {
    this.paused = on;
    for (const w of this.allWorkers()) {
      w.kill(on ? 'SIGSTOP' : 'SIGCONT');
      w.lastBeat = Date.now(); // a frozen worker sends no heartbeat: not a hang
    }
    log(on ? 'nuwsgi paused: workers frozen, connections wait in the listen queue' : 'nuwsgi resumed');
  }

  /** FIFO s: one line per worker. */
  private logStats(): void {
    log(`nuwsgi stats: master pid ${process.pid}, ${plural(this.workers.size, 'worker')}, ${plural(this.retiring.size, 'worker')} retiring`);
    for (const id of this.slots()) {
      const w = this.workers.get(id)!;
      const rss = rssBytes(w.pid);
      const status = w.state !== 'ready' ? w.state : w.inflight > 0 ? 'busy' : 'idle';
      log(
        `worker ${id} pid ${w.pid} status ${status} requests ${w.requests} in-flight ${w.inflight} ` +
          `rss ${rss === undefined ? '-' : (rss / MB).toFixed(1) + ' MB'} running ${w.age.toFixed(0)}s`,
      );
    }
  }

  private onFifo(letter: string): void {
    switch (letter) {
      case 'r':
      case 'c':
        return void this.chainReload();
      case 'w':
        return void this.reloadAll(true);
      case 'W':
      case 'R':
        return void this.reloadAll(false);
      case 'q':
        return void this.stop('master-fifo q', true);
      case 'Q':
        return void this.stop('master-fifo Q', false);
      case '+':
        return this.grow();
      case '-':
        return this.shrink();
      case 's':
        return this.logStats();
      case 'p':
        return this.pause(!this.paused);
      case 'P':
        for (const file of [this.config.pidfile, this.config.safePidfile]) {
          if (!file) continue;
          try {
            writePidfile(file);
            log(`pidfile ${file} rewritten`);
          } catch (error) {
            // Typically a pidfile written as root before --uid dropped privileges.
            log(`cannot rewrite pidfile ${file}: ${(error as Error).message}`);
          }
        }
        return;
      case 'l':
        return log(`master-fifo l: ${this.sink.reopen()}`);
      case 'L':
        return log(`master-fifo L: ${this.sink.rotate()}`);
      default:
        log(`master-fifo: unknown command ${JSON.stringify(letter)} ignored (known: r R w W c q Q s l L p P + - 0-9)`);
    }
  }

  private installSignals(): void {
    process.on('SIGTERM', () => void this.stop('SIGTERM', true));
    process.on('SIGINT', () => void this.stop('SIGINT', false));
    process.on('SIGQUIT', () => void this.stop('SIGQUIT', false));
    process.on('SIGHUP', () => void this.chainReload());
    process.on('SIGTTIN', () => this.grow());
    process.on('SIGTTOU', () => this.shrink());
    // SIGUSR1 is left alone: Node's inspector owns it.
  }
}
