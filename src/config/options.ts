/**
 * Every option nuwsgi has, declared once: the CLI parser, --help and the docs come from this table.
 * Names, aliases and defaults follow uWSGI unless `note` says why not.
 */
export type OptionType = 'string' | 'int' | 'bool' | 'mode' | 'seconds' | 'megabytes';

export interface OptionSpec {
  name: string;
  aliases?: string[];
  /** Single-letter form, as uWSGI's -s / -p. */
  short?: string;
  type: OptionType;
  /** Appears more than once: every value is kept. */
  repeatable?: boolean;
  /** Value used when the option is given without one (`--chmod-socket` alone means 666). */
  implicit?: string;
  default?: string | number | boolean;
  /** Placeholder for the value in --help. */
  arg?: string;
  help: string;
  /** Where and why nuwsgi differs from uWSGI. */
  note?: string;
}

export const OPTIONS: readonly OptionSpec[] = [
  { name: 'socket', short: 's', aliases: ['uwsgi-socket'], type: 'string', repeatable: true, arg: 'ADDR', help: 'bind a uwsgi socket: a unix path or host:port (repeatable)' },
  { name: 'http-socket', type: 'string', repeatable: true, arg: 'ADDR', help: 'also serve plain HTTP on ADDR (unix path or host:port), for curl and health checks without nginx' },
  { name: 'processes', short: 'p', aliases: ['workers'], type: 'int', default: 1, arg: 'N', help: 'number of worker processes' },
  { name: 'app', aliases: ['wsgi-file', 'module', 'file'], short: 'w', type: 'string', arg: 'FILE', help: 'the app module: a (req, res) listener or a Fetch handler, CommonJS or ESM (also the positional argument)' },
  { name: 'master', short: 'M', type: 'bool', default: true, help: 'accepted for uWSGI compatibility: nuwsgi always runs a master' },
  { name: 'chmod-socket', short: 'C', aliases: ['chmod'], type: 'mode', implicit: '666', arg: 'MODE', help: 'chmod unix sockets after binding, before the first accept (alone: 666)' },
  { name: 'listen', short: 'l', type: 'int', default: 1024, arg: 'N', help: 'listen queue (backlog) of each socket', note: "uWSGI's default of 100 is its classic 'listen queue full' failure under bursts" },
  { name: 'vacuum', type: 'bool', default: false, help: 'remove unix socket files and the pidfile at exit' },
  { name: 'buffer-size', short: 'b', type: 'int', default: 65535, arg: 'BYTES', help: 'largest uwsgi header block accepted (max 65535); larger gets 431', note: "uWSGI's 4096 default is its most reported failure (big cookies); 65535 is the protocol's maximum" },
  { name: 'max-vars', type: 'int', default: 1000, arg: 'N', help: 'most vars accepted in one uwsgi header block', note: 'counts vars, not uWSGI iovec slots' },
  { name: 'socket-timeout', short: 'z', type: 'seconds', default: 4, arg: 'SECS', help: 'close a connection whose uwsgi header block is not all in within SECS of the accept, or whose body stalls for SECS between reads', note: 'uWSGI resets the header timeout at every read, so a peer trickling a byte at a time holds the connection for ever' },
  { name: 'limit-post', type: 'int', default: 0, arg: 'BYTES', help: 'answer 413 to a request whose CONTENT_LENGTH is above BYTES, before reading any of its body (0: no limit)' },
  { name: 'max-connections', type: 'int', default: 0, arg: 'N', help: 'most uwsgi connections one worker holds open at once; above it new connections are answered 503 at once, with one log line when reached and one when back under (0: no limit)', note: "uWSGI bounds a worker by its cores (--async/--gevent/--threads N); a Node worker has no cores, so the bound is on its open connections, named after Node's net.Server maxConnections. Not an alias of async: an ini written for uWSGI's async engines would silently cap a Node worker" },
  { name: 'native-io', type: 'bool', default: true, help: 'serve uwsgi sockets through the native acceptor when it is built (npm install builds it; accept, first read, write and close in C, the app still in Node); --no-native-io uses the pure TypeScript path', note: 'no uWSGI equivalent: uWSGI is all C' },
  { name: 'harakiri', short: 't', type: 'seconds', default: 0, arg: 'SECS', help: 'answer 504 to a request still running after SECS; replace a worker whose event loop is blocked that long (0: off)' },
  { name: 'harakiri-verbose', type: 'bool', default: false, help: 'on harakiri, also log every request in flight on that worker (method, URI, age)' },
  { name: 'harakiri-graceful-timeout', type: 'seconds', default: 0, arg: 'SECS', help: 'a worker whose event loop is blocked past harakiri gets SIGTERM first, then SIGKILL after SECS (0: SIGKILL at once)' },
  { name: 'worker-heartbeat', type: 'seconds', default: 30, arg: 'SECS', help: 'replace a worker whose event loop has not answered for SECS, even when idle (0: off)' },
  { name: 'worker-reload-mercy', aliases: ['reload-mercy', 'graceful-timeout'], type: 'seconds', default: 60, arg: 'SECS', help: 'how long a stopping or reloading worker may take to finish in-flight requests before SIGKILL', note: "uWSGI's reload-mercy does not apply to workers; here it is the same option" },
  { name: 'max-requests', short: 'R', type: 'int', default: 0, arg: 'N', help: 'recycle a worker after N requests (0: never)' },
  { name: 'max-requests-delta', type: 'int', default: 0, arg: 'N', help: 'worker i recycles after max-requests + (i-1)*N requests, so workers do not recycle together' },
  { name: 'min-worker-lifetime', type: 'seconds', default: 10, arg: 'SECS', help: 'no recycle (max-requests, reload-on-rss) before a worker has lived SECS' },
  { name: 'max-worker-lifetime', type: 'seconds', default: 0, arg: 'SECS', help: 'recycle a worker after SECS (0: never)' },
  { name: 'max-worker-lifetime-delta', type: 'seconds', default: 0, arg: 'SECS', help: 'worker i recycles after max-worker-lifetime + (i-1)*SECS' },
  { name: 'reload-on-rss', type: 'megabytes', default: 0, arg: 'MB', help: 'recycle a worker (finish in-flight requests, then exit) whose RSS is above MB, sampled every second' },
  { name: 'evil-reload-on-rss', type: 'megabytes', default: 0, arg: 'MB', help: 'SIGKILL a worker whose RSS is above MB, sampled every second' },
  { name: 'crash-loop-limit', type: 'int', default: 10, arg: 'N', help: 'stop (exit 1) after N workers in a row die within seconds of starting, instead of respawning forever (0: never give up)', note: 'uWSGI respawns a crashing app forever' },
  { name: 'touch-reload', type: 'string', repeatable: true, arg: 'FILE', help: 'chain reload when FILE is touched (mtime changes; repeatable)' },
  { name: 'touch-chain-reload', type: 'string', repeatable: true, arg: 'FILE', help: 'chain reload when FILE is touched (repeatable)' },
  { name: 'touch-workers-reload', type: 'string', repeatable: true, arg: 'FILE', help: 'reload all workers at once when FILE is touched (repeatable)' },
  { name: 'master-fifo', type: 'string', repeatable: true, arg: 'PATH', help: 'control FIFO with uWSGI letters (r R w W c q Q s l L p P + - 0-9; repeatable: slots 0-9)' },
  { name: 'die-on-term', type: 'bool', default: false, help: 'accepted for uWSGI compatibility: SIGTERM always stops gracefully here' },
  { name: 'ready-timeout', type: 'seconds', default: 60, arg: 'SECS', help: 'how long a new worker may take to load the app and report ready' },
  { name: 'chdir', type: 'string', arg: 'DIR', help: 'chdir to DIR before loading the app' },
  { name: 'env', type: 'string', repeatable: true, arg: 'KEY=VALUE', help: 'set an environment variable for the app (repeatable)' },
  { name: 'pidfile', type: 'string', arg: 'FILE', help: "write the master's pid to FILE (before privileges are dropped)" },
  { name: 'safe-pidfile', type: 'string', arg: 'FILE', help: "write the master's pid to FILE once the workers are ready" },
  { name: 'reload', type: 'string', arg: 'PIDFILE', help: 'send SIGHUP (chain reload) to the master whose pid is in PIDFILE, and exit' },
  { name: 'stop', type: 'string', arg: 'PIDFILE', help: 'send SIGTERM (graceful stop) to the master whose pid is in PIDFILE, and exit' },
  { name: 'uid', type: 'string', arg: 'USER', help: 'drop privileges to USER (name or number) after the sockets are bound' },
  { name: 'gid', type: 'string', arg: 'GROUP', help: 'drop privileges to GROUP (name or number) after the sockets are bound' },
  { name: 'chown-socket', type: 'string', arg: 'USER[:GROUP]', help: 'chown unix sockets after binding' },
  { name: 'umask', type: 'mode', arg: 'MASK', help: 'set the umask before binding (octal)' },
  // Observability: request log, log file, stats socket, metrics (src/observability).
  { name: 'disable-logging', short: 'L', type: 'bool', default: false, help: 'no request log lines (errors and lifecycle lines still print; log-4xx/5xx/slow/big/zero still apply)' },
  { name: 'log-4xx', type: 'bool', default: false, help: 'log requests answered 4xx even with disable-logging' },
  { name: 'log-5xx', type: 'bool', default: false, help: 'log requests answered 5xx even with disable-logging' },
  { name: 'log-slow', type: 'int', default: 0, arg: 'MS', help: 'log requests taking MS milliseconds or more even with disable-logging' },
  { name: 'log-big', type: 'int', default: 0, arg: 'BYTES', help: 'log responses of BYTES body bytes or more even with disable-logging' },
  { name: 'log-zero', type: 'bool', default: false, help: 'log responses with an empty body even with disable-logging' },
  { name: 'log-format', aliases: ['logformat'], type: 'string', arg: 'FORMAT', help: "request log line with uWSGI's %(var) variables, e.g. '%(addr) %(method) %(uri) %(status) %(msecs)ms'" },
  { name: 'log-format-json', type: 'bool', default: false, help: 'request log as one JSON object per line (fields named like the log-format variables)' },
  { name: 'log-micros', type: 'bool', default: false, help: 'request durations in microseconds in the default request line' },
  { name: 'memory-report', short: 'm', type: 'bool', default: false, help: 'prefix request lines with the worker memory, and report it in stats' },
  { name: 'logto', aliases: ['logto2', 'logfile'], type: 'string', arg: 'FILE', help: 'log to FILE (appending) instead of stderr; reopened when moved away or on FIFO l' },
  { name: 'log-master', type: 'bool', default: true, help: 'accepted for uWSGI compatibility: the master is always the one writer of the log' },
  { name: 'log-reopen', type: 'bool', default: false, help: 'accepted for uWSGI compatibility: the log file is reopened whenever it is moved away' },
  { name: 'touch-logreopen', type: 'string', repeatable: true, arg: 'FILE', help: 'reopen the log file when FILE is touched' },
  { name: 'touch-logrotate', type: 'string', repeatable: true, arg: 'FILE', help: 'rotate the log file when FILE is touched' },
  { name: 'stats', aliases: ['stats-server'], type: 'string', arg: 'ADDR', help: "uWSGI's stats server on ADDR (unix path or host:port): one JSON document per connection, read by uwsgitop" },
  { name: 'stats-http', type: 'bool', default: false, help: 'serve the stats document with HTTP headers' },
  { name: 'stats-minified', aliases: ['stats-min'], type: 'bool', default: false, help: 'stats JSON without indentation' },
  { name: 'metrics', type: 'string', arg: 'ADDR', help: 'Prometheus metrics at GET /metrics on ADDR (unix path or host:port)' },
  // Configuration sources and introspection, read by src/config/load.ts with uWSGI's semantics.
  { name: 'ini', type: 'string', repeatable: true, arg: 'FILE[:SECTION]', help: 'read the [uwsgi] (or [SECTION]) section of an INI file, in place; ":SECTION" alone re-reads the last INI file (also a bare *.ini argument)' },
  { name: 'xml', short: 'x', aliases: ['xmlconfig'], type: 'string', repeatable: true, arg: 'FILE[:ID]', help: 'read the <uwsgi> element (or <uwsgi id="ID">) of an XML file, in place (also a bare *.xml argument)' },
  { name: 'json', short: 'j', aliases: ['js'], type: 'string', repeatable: true, arg: 'FILE[:KEY]', help: 'read the "uwsgi" (or KEY) object of a JSON file, in place (also a bare *.json argument)' },
  { name: 'include', type: 'string', repeatable: true, arg: 'FILE', help: 'read a config file, format by extension, in place' },
  { name: 'inherit', type: 'string', repeatable: true, arg: 'FILE', help: "read a config file as a template: its options go after every other source and are not expanded (uWSGI's order)" },
  { name: 'strict', type: 'bool', default: true, help: 'an unknown option anywhere is an error naming file and line; --no-strict (strict = false) makes it a warning', note: "uWSGI's strict is off by default" },
  { name: 'set', short: 'S', type: 'string', repeatable: true, arg: 'NAME=VALUE', help: 'set option NAME, or a placeholder for %(NAME) when NAME is not an option' },
  { name: 'set-placeholder', aliases: ['set-ph'], type: 'string', repeatable: true, arg: 'NAME=VALUE', help: 'declare a placeholder for %(NAME); its value is not expanded' },
  { name: 'show-config', type: 'bool', default: false, help: 'print the resolved configuration as INI and exit', note: "uWSGI prints the raw option list and keeps starting" },
  { name: 'get', type: 'string', repeatable: true, arg: 'OPTION', help: 'print the resolved value(s) of OPTION, one per line, and exit', note: 'uWSGI prints the first occurrence, not the effective value' },
  { name: 'check-config', type: 'bool', default: false, help: 'validate the configuration (and that the app file exists) and exit 0, or 1 with the errors' },
  // uWSGI's config logic: each line up to the matching end is emitted per item, or when the test holds.
  { name: 'for', type: 'string', arg: 'ITEMS', help: 'config logic: repeat each following line once per space-separated item, %(_) being the item, up to endfor' },
  { name: 'for-glob', type: 'string', arg: 'GLOB', help: 'config logic: as for, one item per path matching GLOB' },
  { name: 'for-times', type: 'string', arg: 'N', help: 'config logic: as for, items 1..N' },
  { name: 'for-readline', type: 'string', arg: 'FILE', help: 'config logic: as for, one item per line of FILE' },
  { name: 'endfor', aliases: ['end-for'], type: 'bool', help: 'config logic: end a for block' },
  { name: 'if-env', aliases: ['ifenv'], type: 'string', arg: 'VAR[=VALUE]', help: 'config logic: keep the following lines (up to endif) if VAR is set (to VALUE); %(_) is its value' },
  { name: 'if-not-env', type: 'string', arg: 'VAR[=VALUE]', help: 'config logic: keep the following lines if VAR is not set (to VALUE)' },
  { name: 'if-exists', aliases: ['ifexists'], type: 'string', arg: 'PATH', help: 'config logic: keep the following lines if PATH exists' },
  { name: 'if-not-exists', type: 'string', arg: 'PATH', help: 'config logic: keep the following lines if PATH does not exist' },
  { name: 'if-file', type: 'string', arg: 'PATH', help: 'config logic: keep the following lines if PATH is a file' },
  { name: 'if-not-file', type: 'string', arg: 'PATH', help: 'config logic: keep the following lines if PATH is not a file' },
  { name: 'if-dir', aliases: ['ifdir', 'if-directory'], type: 'string', arg: 'PATH', help: 'config logic: keep the following lines if PATH is a directory' },
  { name: 'if-not-dir', type: 'string', arg: 'PATH', help: 'config logic: keep the following lines if PATH is not a directory' },
  { name: 'if-opt', type: 'string', arg: 'NAME[=VALUE]', help: 'config logic: keep the following lines if option NAME was set earlier (to VALUE); %(_) is its value' },
  { name: 'if-not-opt', type: 'string', arg: 'NAME[=VALUE]', help: 'config logic: keep the following lines if option NAME was not set earlier (to VALUE)' },
  { name: 'if-hostname', type: 'string', arg: 'NAME', help: 'config logic: keep the following lines if the hostname is NAME' },
  { name: 'if-not-hostname', type: 'string', arg: 'NAME', help: 'config logic: keep the following lines if the hostname is not NAME' },
  { name: 'if-reload', type: 'bool', help: 'config logic: never true here (a reload does not re-read the configuration)' },
  { name: 'if-not-reload', type: 'bool', help: 'config logic: always true here' },
  { name: 'if-plugin', aliases: ['ifplugin'], type: 'string', arg: 'PLUGIN', help: 'config logic: never true (nuwsgi has no uWSGI plugins)' },
  { name: 'if-not-plugin', type: 'string', arg: 'PLUGIN', help: 'config logic: always true (nuwsgi has no uWSGI plugins)' },
  { name: 'endif', aliases: ['end-if'], type: 'bool', help: 'config logic: end an if block' },
  { name: 'help', short: 'h', aliases: ['usage'], type: 'bool', help: 'show this help and exit' },
  { name: 'version', type: 'bool', help: 'print the version and exit' },
];

const byName = new Map<string, OptionSpec>();
const byShort = new Map<string, OptionSpec>();
for (const spec of OPTIONS) {
  byName.set(spec.name, spec);
  for (const alias of spec.aliases ?? []) byName.set(alias, spec);
  if (spec.short) byShort.set(spec.short, spec);
}

/** Look an option up by long name or alias; `_` and `-` are the same, as in uWSGI. */
export function findOption(name: string): OptionSpec | undefined {
  return byName.get(name.replace(/_/g, '-'));
}

export function findShortOption(letter: string): OptionSpec | undefined {
  return byShort.get(letter);
}

export function allOptionNames(): string[] {
  return [...byName.keys()];
}
