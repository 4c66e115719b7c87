import { ConfigError, many, single, type RawOptions } from './cli.js';

/** The resolved configuration the master and workers run with. */
export interface Config {
  sockets: string[];
  httpSockets: string[];
  processes: number;
  app: string;
  chmodSocket?: number;
  listen: number;
  vacuum: boolean;
  bufferSize: number;
  maxVars: number;
  socketTimeout: number;
  /** --limit-post: largest CONTENT_LENGTH accepted, 0 for no limit. */
  limitPost: number;
  /** --max-connections: open uwsgi connections per worker, 0 for no limit. */
  maxConnections: number;
  /** --native-io: the native acceptor on uwsgi sockets, when built. */
  nativeIo: boolean;
  harakiri: number;
  workerReloadMercy: number;
  readyTimeout: number;
  dieOnTerm: boolean;
  harakiriVerbose: boolean;
  harakiriGracefulTimeout: number;
  workerHeartbeat: number;
  maxRequests: number;
  maxRequestsDelta: number;
  minWorkerLifetime: number;
  maxWorkerLifetime: number;
  maxWorkerLifetimeDelta: number;
  reloadOnRss: number;
  evilReloadOnRss: number;
  crashLoopLimit: number;
  touchReload: string[];
  touchChainReload: string[];
  touchWorkersReload: string[];
  masterFifo: string[];
  chdir?: string;
  env: string[];
  pidfile?: string;
  safePidfile?: string;
  uid?: string;
  gid?: string;
  chownSocket?: string;
  umask?: number;
  disableLogging: boolean;
  log4xx: boolean;
  log5xx: boolean;
  logSlow: number;
  logBig: number;
  logZero: boolean;
  logFormat?: string;
  logFormatJson: boolean;
  logMicros: boolean;
  memoryReport: boolean;
  logto?: string;
  touchLogreopen: string[];
  touchLogrotate: string[];
  stats?: string;
  statsHttp: boolean;
  statsMinified: boolean;
  metrics?: string;
}

export function resolveConfig(raw: RawOptions): Config {
  const apps = many(raw, 'app');
  if (apps.length === 0) throw new ConfigError('no app given: nuwsgi [options] app.js (or --app FILE)');
  if (apps.length > 1) throw new ConfigError(`one app per server, got ${apps.length}: ${apps.join(', ')}`);
  const config: Config = {
    sockets: many(raw, 'socket'),
    httpSockets: many(raw, 'http-socket'),
    processes: single<number>(raw, 'processes')!,
    app: apps[0],
    chmodSocket: single<number>(raw, 'chmod-socket'),
    listen: single<number>(raw, 'listen')!,
    vacuum: single<boolean>(raw, 'vacuum')!,
    bufferSize: single<number>(raw, 'buffer-size')!,
    maxVars: single<number>(raw, 'max-vars')!,
    socketTimeout: single<number>(raw, 'socket-timeout')!,
    limitPost: single<number>(raw, 'limit-post')!,
    maxConnections: single<number>(raw, 'max-connections')!,
    nativeIo: single<boolean>(raw, 'native-io')!,
    harakiri: single<number>(raw, 'harakiri')!,
    workerReloadMercy: single<number>(raw, 'worker-reload-mercy')!,
    readyTimeout: single<number>(raw, 'ready-timeout')!,
    dieOnTerm: single<boolean>(raw, 'die-on-term')!,
    harakiriVerbose: single<boolean>(raw, 'harakiri-verbose')!,
    harakiriGracefulTimeout: single<number>(raw, 'harakiri-graceful-timeout')!,
    workerHeartbeat: single<number>(raw, 'worker-heartbeat')!,
    maxRequests: single<number>(raw, 'max-requests')!,
    maxRequestsDelta: single<number>(raw, 'max-requests-delta')!,
    minWorkerLifetime: single<number>(raw, 'min-worker-lifetime')!,
    maxWorkerLifetime: single<number>(raw, 'max-worker-lifetime')!,
    maxWorkerLifetimeDelta: single<number>(raw, 'max-worker-lifetime-delta')!,
    reloadOnRss: single<number>(raw, 'reload-on-rss')!,
    evilReloadOnRss: single<number>(raw, 'evil-reload-on-rss')!,
    crashLoopLimit: single<number>(raw, 'crash-loop-limit')!,
    touchReload: many(raw, 'touch-reload'),
    touchChainReload: many(raw, 'touch-chain-reload'),
    touchWorkersReload: many(raw, 'touch-workers-reload'),
    masterFifo: many(raw, 'master-fifo'),
    chdir: single<string>(raw, 'chdir'),
    env: many(raw, 'env'),
    pidfile: single<string>(raw, 'pidfile'),
    safePidfile: single<string>(raw, 'safe-pidfile'),
    uid: single<string>(raw, 'uid'),
    gid: single<string>(raw, 'gid'),
    chownSocket: single<string>(raw, 'chown-socket'),
    umask: single<number>(raw, 'umask'),
    disableLogging: single<boolean>(raw, 'disable-logging')!,
    log4xx: single<boolean>(raw, 'log-4xx')!,
    log5xx: single<boolean>(raw, 'log-5xx')!,
    logSlow: single<number>(raw, 'log-slow')!,
    logBig: single<number>(raw, 'log-big')!,
    logZero: single<boolean>(raw, 'log-zero')!,
    logFormat: single<string>(raw, 'log-format'),
    logFormatJson: single<boolean>(raw, 'log-format-json')!,
    logMicros: single<boolean>(raw, 'log-micros')!,
    memoryReport: single<boolean>(raw, 'memory-report')!,
    logto: single<string>(raw, 'logto'),
    touchLogreopen: many(raw, 'touch-logreopen'),
    touchLogrotate: many(raw, 'touch-logrotate'),
    stats: single<string>(raw, 'stats'),
    statsHttp: single<boolean>(raw, 'stats-http')!,
    statsMinified: single<boolean>(raw, 'stats-minified')!,
    metrics: single<string>(raw, 'metrics'),
  };
  if (config.sockets.length === 0 && config.httpSockets.length === 0) {
    throw new ConfigError('no socket to serve on: give --socket ADDR (uwsgi, for nginx) and/or --http-socket ADDR');
  }
  if (config.processes < 1) throw new ConfigError('--processes must be at least 1');
  if (config.bufferSize < 1 || config.bufferSize > 65535) {
    throw new ConfigError(`--buffer-size ${config.bufferSize} is outside 1..65535: the uwsgi header block size is a 16-bit field`);
  }
  if (config.socketTimeout <= 0) throw new ConfigError('--socket-timeout must be above 0');
  for (const kv of config.env) {
    if (!/^[^=]+=/.test(kv)) throw new ConfigError(`--env takes KEY=VALUE, not ${JSON.stringify(kv)}`);
  }
  return config;
}
