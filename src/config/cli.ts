import { configure } from './configure.js';
import { OPTIONS } from './options.js';
import type { RawOptions } from './values.js';

export { ConfigError } from './errors.js';
export { convert, many, single, type RawOptions } from './values.js';

/**
 * nuwsgi's options from a command line alone (no UWSGI_* environment), config files named on it
 * included: the uWSGI forms, repeatable options in order, errors with the nearest option.
 */
export function parseArgv(argv: readonly string[]): RawOptions {
  return configure(argv, { env: {} }).raw;
}

export function helpText(version: string): string {
  const lines = [
    `nuwsgi ${version}: serve a Node app to nginx over the uwsgi protocol`,
    '',
    'usage: nuwsgi [options] [app.js] [config.ini|config.xml|config.json]',
    '',
    'Options come from UWSGI_<OPTION> environment variables, then the command line in order, config',
    'files read where they appear; for a single-valued option the last one wins. In files, $(VAR),',
    '@(file), %(option) and magic variables (%d %n %p ...) are expanded as in uWSGI.',
    '',
    'options:',
  ];
  for (const spec of OPTIONS) {
    const names = [spec.short ? `-${spec.short}` : '', `--${spec.name}`, ...(spec.aliases ?? []).map((a) => `--${a}`)].filter(Boolean).join(', ');
    const arg = spec.type === 'bool' ? '' : spec.implicit ? `[=${spec.arg}]` : ` ${spec.arg ?? 'VALUE'}`;
    const def = spec.default !== undefined && spec.type !== 'bool' ? ` (default ${spec.default})` : '';
    lines.push(`  ${(names + arg).padEnd(44)} ${spec.help}${def}`);
  }
  lines.push('', 'uWSGI options nuwsgi does not implement (enable-threads, lazy-apps, plugins, ...) are ignored with a warning.');
  return lines.join('\n') + '\n';
}
