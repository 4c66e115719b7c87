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
  { name: 'chmod-socket', type: 'mode', implicit: '666', arg: 'MODE', help: 'chmod unix sockets after binding, before the first accept (alone: 666)' },
  { name: 'listen', short: 'l', type: 'int', default: 1024, arg: 'N', help: 'listen queue (backlog) of each socket', note: "uWSGI's default of 100 is its classic 'listen queue full' failure under bursts" },
  { name: 'vacuum', type: 'bool', default: false, help: 'remove unix socket files and the pidfile at exit' },
  { name: 'buffer-size', short: 'b', type: 'int', default: 65535, arg: 'BYTES', help: 'largest uwsgi header block accepted (max 65535); larger gets 431', note: "uWSGI's 4096 default is its most reported failure (big cookies); 65535 is the protocol's maximum" },
  { name: 'max-vars', type: 'int', default: 1000, arg: 'N', help: 'most vars accepted in one uwsgi header block', note: 'counts vars, not uWSGI iovec slots' },
  { name: 'socket-timeout', short: 'z', type: 'seconds', default: 4, arg: 'SECS', help: 'close a connection whose request does not arrive within SECS of the last read' },
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
