import { readFileSync } from 'node:fs';
import { ConfigError, helpText, parseArgv, single } from './config/cli.js';
import { resolveConfig } from './config/config.js';
import { log } from './log.js';
import { Master } from './server/master.js';
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

/** `nuwsgi [options] [app.js]`: parse, apply --chdir/--env, start the master. */
export async function main(argv: readonly string[]): Promise<void> {
  let config;
  try {
    const raw = parseArgv(argv);
    if (single<boolean>(raw, 'help')) return void process.stdout.write(helpText(VERSION));
    if (single<boolean>(raw, 'version')) return void process.stdout.write(`nuwsgi ${VERSION}\n`);
    const reload = single<string>(raw, 'reload');
    if (reload) return signalPidfile(reload, 'SIGHUP');
    const stop = single<string>(raw, 'stop');
    if (stop) return signalPidfile(stop, 'SIGTERM');
    config = resolveConfig(raw);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    log(`nuwsgi: ${error.message}`);
    process.exit(1);
  }
  if (config.chdir) process.chdir(config.chdir);
  for (const kv of config.env) {
    const eq = kv.indexOf('=');
    process.env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  try {
    await new Master(config).start();
  } catch (error) {
    log(`nuwsgi: ${(error as Error).message}`);
    process.exit(1);
  }
}
