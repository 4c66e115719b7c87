import { ConfigError, helpText, parseArgv, single } from './config/cli.js';
import { resolveConfig } from './config/config.js';
import { log } from './log.js';
import { Master } from './server/master.js';
import { VERSION } from './version.js';

/** `nuwsgi [options] [app.js]`: parse, apply --chdir/--env, start the master. */
export async function main(argv: readonly string[]): Promise<void> {
  let config;
  try {
    const raw = parseArgv(argv);
    if (single<boolean>(raw, 'help')) return void process.stdout.write(helpText(VERSION));
    if (single<boolean>(raw, 'version')) return void process.stdout.write(`nuwsgi ${VERSION}\n`);
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
