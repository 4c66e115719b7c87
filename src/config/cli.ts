import { allOptionNames, findOption, findShortOption, OPTIONS, type OptionSpec } from './options.js';
import { nearest } from './suggest.js';

/** A command line nuwsgi cannot run with; the message says what to change. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Option values as given, by canonical name, in order. */
export type RawOptions = Map<string, string[]>;

const BOOL_TRUE = new Set(['', '1', 'true', 'yes', 'on', 'y', 't']);
const BOOL_FALSE = new Set(['0', 'false', 'no', 'off', 'n', 'f']);

function unknownOption(flag: string): ConfigError {
  const bare = flag.replace(/^-+/, '');
  const guess = nearest(bare, allOptionNames());
  return new ConfigError(`unknown option ${flag}${guess ? ` (did you mean --${guess}?)` : ''}; see nuwsgi --help`);
}

function add(raw: RawOptions, spec: OptionSpec, value: string): void {
  const values = raw.get(spec.name);
  if (values) values.push(value);
  else raw.set(spec.name, [value]);
}

/**
 * uWSGI's command-line forms: `--opt value`, `--opt=value`, `-s value`, `-sVALUE`, bare booleans,
 * optional values only with `=` (`--chmod-socket` alone means 666), and one positional: the app.
 */
export function parseArgv(argv: readonly string[]): RawOptions {
  const raw: RawOptions = new Map();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    let spec: OptionSpec | undefined;
    let value: string | undefined;
    if (arg.startsWith('--') && arg.length > 2) {
      const eq = arg.indexOf('=');
      const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
      if (eq !== -1) value = arg.slice(eq + 1);
      spec = findOption(name);
      if (!spec) throw unknownOption(`--${name}`);
    } else if (arg.startsWith('-') && arg.length > 1 && arg !== '-') {
      spec = findShortOption(arg[1]);
      if (!spec) throw unknownOption(arg);
      if (arg.length > 2) value = arg.slice(2);
    } else {
      add(raw, findOption('app')!, arg);
      continue;
    }
    if (value === undefined) {
      if (spec.type === 'bool') value = '';
      else if (spec.implicit !== undefined) value = spec.implicit;
      else {
        if (i + 1 >= argv.length) throw new ConfigError(`option --${spec.name} needs a value (${spec.arg ?? 'VALUE'})`);
        value = argv[++i];
      }
    }
    add(raw, spec, value);
  }
  return raw;
}

/** Convert one textual value by the option's type. */
export function convert(spec: OptionSpec, value: string): string | number | boolean {
  switch (spec.type) {
    case 'bool': {
      const v = value.toLowerCase();
      if (BOOL_TRUE.has(v)) return true;
      if (BOOL_FALSE.has(v)) return false;
      throw new ConfigError(`--${spec.name} takes a boolean, not ${JSON.stringify(value)}`);
    }
    case 'int': {
      if (!/^\d+$/.test(value)) throw new ConfigError(`--${spec.name} takes a whole number, not ${JSON.stringify(value)}`);
      return Number(value);
    }
    case 'megabytes': {
      if (!/^\d+$/.test(value)) throw new ConfigError(`--${spec.name} takes megabytes, not ${JSON.stringify(value)}`);
      return Number(value);
    }
    case 'seconds': {
      if (!/^\d+(\.\d+)?$/.test(value)) throw new ConfigError(`--${spec.name} takes seconds, not ${JSON.stringify(value)}`);
      return Number(value);
    }
    case 'mode': {
      if (!/^[0-7]{3,4}$/.test(value)) throw new ConfigError(`--${spec.name} takes an octal mode such as 660, not ${JSON.stringify(value)}`);
      return parseInt(value, 8);
    }
    default:
      return value;
  }
}

/** The last value of a single-valued option, converted, or its default. */
export function single<T extends string | number | boolean>(raw: RawOptions, name: string): T | undefined {
  const spec = findOption(name)!;
  const values = raw.get(spec.name);
  if (!values || values.length === 0) return spec.default as T | undefined;
  return convert(spec, values[values.length - 1]) as T;
}

export function many(raw: RawOptions, name: string): string[] {
  return raw.get(findOption(name)!.name) ?? [];
}

export function helpText(version: string): string {
  const lines = [`nuwsgi ${version}: serve a Node app to nginx over the uwsgi protocol`, '', 'usage: nuwsgi [options] [app.js]', '', 'options:'];
  for (const spec of OPTIONS) {
    const names = [spec.short ? `-${spec.short}` : '', `--${spec.name}`, ...(spec.aliases ?? []).map((a) => `--${a}`)].filter(Boolean).join(', ');
    const arg = spec.type === 'bool' ? '' : spec.implicit ? `[=${spec.arg}]` : ` ${spec.arg ?? 'VALUE'}`;
    const def = spec.default !== undefined && spec.type !== 'bool' ? ` (default ${spec.default})` : '';
    lines.push(`  ${(names + arg).padEnd(44)} ${spec.help}${def}`);
  }
  return lines.join('\n') + '\n';
}
