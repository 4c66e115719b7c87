import { UWSGI_OPTIONS, UWSGI_SHORTS } from './uwsgi-options.js';

/** One of uWSGI's own options (whether or not nuwsgi implements it). */
export interface UwsgiOption {
  name: string;
  /** Takes an argument on the command line (getopt required_argument). */
  takesValue: boolean;
  /** 'core', or the uWSGI plugin that declares it ('python3', 'http', ...). */
  plugin: string;
}

const byName = new Map<string, UwsgiOption>();
for (const [plugin, { values, flags }] of Object.entries(UWSGI_OPTIONS)) {
  for (const name of values.split(/\s+/).filter(Boolean)) byName.set(name, { name, takesValue: true, plugin });
  for (const name of flags.split(/\s+/).filter(Boolean)) byName.set(name, { name, takesValue: false, plugin });
}
const byShort = new Map(UWSGI_SHORTS.split(' ').map((pair) => [pair[0], pair.slice(2)] as const));

/** uWSGI's option of that name; `_` equals `-` as everywhere in nuwsgi (not in uWSGI itself). */
export function uwsgiOption(name: string): UwsgiOption | undefined {
  return byName.get(name.replace(/_/g, '-'));
}

/** The long name of uWSGI's single-letter option. */
export function uwsgiShort(letter: string): string | undefined {
  return byShort.get(letter);
}

export function uwsgiOptionNames(): string[] {
  return [...byName.keys()];
}
