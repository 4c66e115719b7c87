import type { Configured } from './configure.js';
import { where } from './entries.js';
import { isLogicOption } from './logic.js';
import { findOption, OPTIONS, type OptionSpec } from './options.js';
import { formatValue } from './values.js';

/** Where nuwsgi differs from uWSGI on purpose; printed by --show-config and listed in the README. */
export const DEVIATIONS: readonly string[] = [
  'a bare config-file argument is read where it appears (uWSGI reads it after every dashed option)',
  '"_" and "-" are the same in option names (uWSGI knows only "-")',
  'strict is on by default; a custom key used as %(key) is a placeholder, not an unknown option',
  'a replacement is expanded again until done and a cycle is an error (uWSGI skips a result that starts the value, and loops on cycles)',
  'values are checked (processes = abc is an error, uWSGI reads 0); a boolean other than true/false/on/off/yes/no/1/0 warns',
  'a missing INI section, XML stanza or JSON object is an error under strict (uWSGI warns for INI)',
  '--show-config prints effective values and exits, --get the effective value(s) (uWSGI: the raw list, and the first occurrence)',
  '%V is the nuwsgi version, %b the nuwsgi binary',
];

/** Options that steer loading or this output, not the server. */
function isMeta(spec: OptionSpec): boolean {
  return ['ini', 'xml', 'json', 'include', 'inherit', 'set', 'set-placeholder', 'show-config', 'get', 'check-config', 'help', 'version', 'strict', 'endif', 'endfor'].includes(spec.name) || isLogicOption(spec.name);
}

function effective(spec: OptionSpec, values: string[]): string[] {
  return (spec.repeatable ? values : values.slice(-1)).map((v) => formatValue(spec, v));
}

/** The resolved configuration as INI: `[uwsgi]`, then one line per value (repeated keys repeated). */
export function showConfig(c: Configured, version: string): string {
  const lines = [
    `; nuwsgi ${version} --show-config: the resolved configuration (effective values, in the order first set)`,
    `; read in order: ${['environment', 'command line', ...c.files].join(', ')}`,
    `; strict: ${c.strict ? 'on' : 'off'}`,
    '; deliberate differences from uWSGI:',
    ...DEVIATIONS.map((d) => `;   - ${d}`),
    '[uwsgi]',
  ];
  for (const [name, values] of c.raw) {
    const spec = findOption(name)!;
    if (!isMeta(spec)) for (const v of effective(spec, values)) lines.push(`${name} = ${v}`);
  }
  if (c.placeholders.size > 0) {
    lines.push('; placeholders (custom keys used as %(name)):');
    for (const [name, value] of c.placeholders) lines.push(`;   ${name} = ${value}`);
  }
  if (c.ignored.size > 0) {
    lines.push('; ignored (uWSGI options nuwsgi does not implement):');
    for (const [name, i] of c.ignored) lines.push(`;   ${name} = ${i.value}  (${where(i.origin)})`);
  }
  lines.push('; defaults (not set by any source):');
  for (const spec of OPTIONS) {
    if (!c.raw.has(spec.name) && spec.default !== undefined && !isMeta(spec)) lines.push(`;   ${spec.name} = ${formatValue(spec, spec.default)}`);
  }
  return lines.join('\n') + '\n';
}

/** --get NAME: the effective value(s) of an option (its default if unset); for any other key its first value; undefined if never set. */
export function getValues(c: Configured, name: string): string[] | undefined {
  const spec = findOption(name);
  if (spec) {
    const values = c.raw.get(spec.name);
    if (values) return effective(spec, values);
    return spec.default === undefined ? [] : [formatValue(spec, spec.default)];
  }
  // Anything else (placeholder, ignored uWSGI option): the first occurrence, as uWSGI's --get.
  const entry = c.entries.find((e) => e.key === name);
  return entry && [entry.value];
}
