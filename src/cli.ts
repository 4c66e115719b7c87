import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { argvEntries } from './config/argv.js';
import { ConfigError, helpText, many, single } from './config/cli.js';
import { resolveConfig, type Config } from './config/config.js';
import { configure } from './config/configure.js';
import { findOption } from './config/options.js';
import { getValues, showConfig } from './config/show.js';
import { log } from './log.js';
import { VERSION } from './version.js';

/** `--reload PIDFILE` / `--stop PIDFILE`: signal a running master, as uWSGI's client commands do. */
function signalPidfile(pidfile: string, signal: NodeJS.Signals): void {
  let pid: number;
  try {
    pid = Number(readFileSync(pidfile, 'utf8').trim());
  } catch (error) {
    throw new ConfigError(`cannot read pidfile ${pidfile}: ${(error as Error).message}`);
  }
  if (!Number.isInteger(pid) || pid <= 0) throw new ConfigError(`pidfile ${pidfile} holds no pid`);
  try {
    process.kill(pid, signal);
  } catch (error) {
    throw new ConfigError(`cannot signal pid ${pid} from ${pidfile}: ${(error as NodeJS.ErrnoException).code ?? error}`);
  }
  log(`sent ${signal} to nuwsgi master ${pid}`);
}

/** `nuwsgi health [--socket] ADDR [--timeout SECS]`: exit 0 when the server answers a uwsgi ping. */
async function healthCommand(argv: readonly string[]): Promise<void> {
  let address: string | undefined;
  let timeout = 3;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--socket' || arg === '-s') address = argv[++i];
    else if (arg.startsWith('--socket=')) address = arg.slice(9);
    else if (arg === '--timeout') timeout = Number(argv[++i]);
    else if (!arg.startsWith('-')) address = arg;
    else {
      log(`nuwsgi health: unknown option ${arg} (usage: nuwsgi health [--socket] ADDR [--timeout SECS])`);
      process.exit(2);
    }
  }
  if (!address || !(timeout > 0)) {
    log('nuwsgi health: usage: nuwsgi health [--socket] ADDR [--timeout SECS]');
    process.exit(2);
  }
  const { health } = await import('./health.js');
  const result = await health(address, timeout * 1000);
  (result.ok ? process.stdout : process.stderr).write(`${result.message}\n`);
  process.exit(result.ok ? 0 : 1);
}

/** --check-config goes one step further than resolving: the chdir and the app file must exist. */
function checkFiles(config: Config): void {
  if (config.chdir && !statSync(config.chdir, { throwIfNoEntry: false })?.isDirectory()) throw new ConfigError(`chdir ${config.chdir}: no such directory`);
  const app = path.resolve(config.chdir ?? '.', config.app);
  if (!existsSync(app)) throw new ConfigError(`app ${config.app}: no such file (looked at ${app})`);
}

/**
 * `nuwsgi [options] [app.js] [config files]`: read every source (environment, command line, config
 * files), then answer --help/--version/--get/--show-config/--check-config/--reload/--stop, or apply
 * --chdir/--env and start the master.
 */
export async function main(argv: readonly string[]): Promise<void> {
  if (argv[0] === 'health') return healthCommand(argv.slice(1));
  let config;
  let files: string[] = [];
  try {
    // Answered from the command line alone, so they work even when a config file is broken.
    const asked = new Set(argvEntries(argv).map((e) => findOption(e.key)?.name));
    if (asked.has('help')) return void process.stdout.write(helpText(VERSION));
    if (asked.has('version')) return void process.stdout.write(`nuwsgi ${VERSION}\n`);
    const configured = configure(argv);
    for (const warning of configured.warnings) log(`nuwsgi: warning: ${warning}`);
    const raw = configured.raw;
    const reload = single<string>(raw, 'reload');
    if (reload) return signalPidfile(reload, 'SIGHUP');
    const stop = single<string>(raw, 'stop');
    if (stop) return signalPidfile(stop, 'SIGTERM');
    const gets = many(raw, 'get');
    if (gets.length > 0) {
      for (const name of gets) {
        const values = getValues(configured, name);
        if (values === undefined) throw new ConfigError(`--get ${name}: no such option or placeholder`);
        for (const v of values) process.stdout.write(`${v}\n`);
      }
      return;
    }
    if (single<boolean>(raw, 'show-config')) return void process.stdout.write(showConfig(configured, VERSION));
    config = resolveConfig(raw);
    files = configured.files;
    if (single<boolean>(raw, 'check-config')) {
      checkFiles(config);
      process.stdout.write(`nuwsgi: configuration OK${configured.warnings.length ? ` (${configured.warnings.length} warnings)` : ''}\n`);
      return;
    }
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const line of error.message.split('\n')) log(`nuwsgi: ${line}`);
    process.exit(1);
  }
  if (files.length > 0) log(`nuwsgi: configuration read from ${files.join(', ')}`);
  if (config.chdir) process.chdir(config.chdir);
  for (const kv of config.env) {
    const eq = kv.indexOf('=');
    process.env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  try {
    // Loaded only to serve: --help, --get and --show-config never need the server code.
    const { Master } = await import('./server/master.js');
    // Same binary in master and workers: a Node whose internals changed stops here, by name.
    (await import('./node-internals.js')).assertNodeInternals();
    await new Master(config).start();
  } catch (error) {
    log(`nuwsgi: ${(error as Error).message}`);
    process.exit(1);
  }
}
