import type { Entry } from './entries.js';
import { ConfigError } from './errors.js';
import { allOptionNames, findOption, findShortOption, type OptionSpec } from './options.js';
import { nearest } from './suggest.js';
import { uwsgiOption, uwsgiOptionNames, uwsgiShort } from './uwsgi-known.js';

/** A bare argument naming a config file is loaded as with --ini/--xml/--json (uWSGI's init.c rule). */
const CONFIG_ARG = /\.(ini|xml|json|ya?ml)(:[^/]*)?$/;

/** What a command-line name refers to: a nuwsgi option, or one of uWSGI's that nuwsgi ignores. */
interface Known {
  spec?: OptionSpec;
  takesValue: boolean;
}

function known(name: string): Known | undefined {
  const spec = findOption(name);
  if (spec) return { spec, takesValue: spec.type !== 'bool' && spec.implicit === undefined };
  const u = uwsgiOption(name);
  return u && { takesValue: u.takesValue };
}

/** "unknown option --proceses (did you mean --processes?)", suggesting nuwsgi's names first. */
export function suggestion(name: string): string {
  const ours = nearest(name, allOptionNames());
  if (ours) return ` (did you mean ${ours}?)`;
  const theirs = nearest(name, uwsgiOptionNames());
  return theirs ? ` (did you mean ${theirs}? a uWSGI option nuwsgi ignores)` : '';
}

function unknownOption(flag: string): ConfigError {
  const bare = flag.replace(/^-+/, '');
  const hint = suggestion(bare).replace(/did you mean (\S+?)\?/, 'did you mean --$1?');
  return new ConfigError(`unknown option ${flag}${hint}; see nuwsgi --help`);
}

/**
 * The command line as (key, value) pairs in order, in uWSGI's forms: `--opt value`, `--opt=value`,
 * `-s value`, `-sVALUE`, bare booleans, optional values only with `=` (`--chmod-socket` alone means
 * 666), `--no-BOOL`, a bare *.ini/*.xml/*.json argument (loaded in place), and one app argument.
 * An unknown option is always an error here, as with uWSGI's getopt: its arity cannot be guessed.
 */
export function argvEntries(argv: readonly string[]): Entry[] {
  const entries: Entry[] = [];
  const push = (key: string, value: string) => entries.push({ key, value, origin: { source: 'cli' }, expand: true });
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    let key: string;
    let k: Known | undefined;
    let value: string | undefined;
    if (arg.startsWith('--') && arg.length > 2) {
      const eq = arg.indexOf('=');
      key = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
      if (eq !== -1) value = arg.slice(eq + 1);
      k = known(key);
      const negated = !k && key.startsWith('no-') ? findOption(key.slice(3)) : undefined;
      if (negated?.type === 'bool' && value === undefined) {
        push(key.slice(3), 'false');
        continue;
      }
      if (!k) throw unknownOption(`--${key}`);
    } else if (arg.startsWith('-') && arg.length > 1 && arg !== '-') {
      const spec = findShortOption(arg[1]);
      key = spec?.name ?? uwsgiShort(arg[1]) ?? '';
      k = key ? known(key) : undefined;
      if (!k) throw unknownOption(arg);
      if (arg.length > 2) {
        if (!k.takesValue && !k.spec?.implicit) throw new ConfigError(`option -${arg[1]} (--${key}) takes no value: ${arg}`);
        value = arg.slice(2);
      }
    } else {
      const m = CONFIG_ARG.exec(arg);
      if (m) push(m[1] === 'yaml' || m[1] === 'yml' ? 'yaml' : m[1], arg);
      else push('app', arg);
      continue;
    }
    if (value === undefined) {
      if (k.takesValue) {
        if (i + 1 >= argv.length) throw new ConfigError(`option --${key} needs a value (${k.spec?.arg ?? 'VALUE'})`);
        value = argv[++i];
      } else value = '';
    }
    push(key, value);
  }
  return entries;
}
