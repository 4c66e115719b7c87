import { ConfigError } from './errors.js';
import { findOption, type OptionSpec } from './options.js';

/** Option values as given, by canonical name, in order. */
export type RawOptions = Map<string, string[]>;

/** uWSGI's uwsgi_opt_true: only these mean false; anything else (even empty) means true. */
const BOOL_FALSE = new Set(['false', 'off', 'no', '0']);
/** Spellings that are true without a warning. */
const BOOL_TRUE = new Set(['', 'true', 'on', 'yes', '1', 'y', 't']);

/** True when a boolean value is neither an obvious true nor false (uWSGI reads it as true). */
export function oddBoolean(value: string): boolean {
  const v = value.toLowerCase();
  return !BOOL_FALSE.has(v) && !BOOL_TRUE.has(v);
}

/** Convert one textual value by the option's type. */
export function convert(spec: OptionSpec, value: string): string | number | boolean {
  switch (spec.type) {
    case 'bool':
      return !BOOL_FALSE.has(value.toLowerCase());
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

/** The canonical text of a value, as --show-config and --get print it. */
export function formatValue(spec: OptionSpec, value: string | number | boolean): string {
  const v = typeof value === 'string' ? convert(spec, value) : value;
  if (spec.type === 'mode') return (v as number).toString(8).padStart(3, '0');
  return String(v);
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
