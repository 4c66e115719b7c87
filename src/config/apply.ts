import { suggestion } from './argv.js';
import { where, type Entry, type Origin } from './entries.js';
import { ConfigError } from './errors.js';
import type { Loaded } from './load.js';
import { findOption } from './options.js';
import { uwsgiOption } from './uwsgi-known.js';
import { convert, oddBoolean, type RawOptions } from './values.js';

export interface Applied {
  /** nuwsgi's options, canonical name -> values in list order (resolveConfig's input). */
  raw: RawOptions;
  /** Where each option's values came from, parallel to raw. */
  origins: Map<string, Origin[]>;
  /** Custom keys used as %(name) (first value, as uWSGI looks them up). */
  placeholders: Map<string, string>;
  /** uWSGI options nuwsgi does not implement, first occurrence each. */
  ignored: Map<string, { value: string; origin: Origin; plugin: string }>;
  warnings: string[];
  strict: boolean;
}

/**
 * Walks the list once, as uWSGI's uwsgi_configure does: each nuwsgi option's value is checked and
 * appended (scalars: the last wins later; repeatable: all kept). A uWSGI option nuwsgi lacks is a
 * warning; a custom key is a placeholder when %(key) uses it or set/set-placeholder declared it;
 * anything else is unknown: an error under strict (the default), a warning with --no-strict.
 * All errors are reported together.
 */
export function applyEntries(loaded: Loaded): Applied {
  const raw: RawOptions = new Map();
  const origins = new Map<string, Origin[]>();
  const placeholders = new Map<string, string>();
  const ignored = new Map<string, { value: string; origin: Origin; plugin: string }>();
  const warnings = [...loaded.warnings];
  const errors: string[] = [];
  const problems = [...loaded.problems];
  const strictEntry = loaded.entries.filter((e) => findOption(e.key)?.name === 'strict').pop();
  const strict = strictEntry ? convert(findOption('strict')!, strictEntry.value) === true : true;

  const option = (entry: Entry) => {
    const spec = findOption(entry.key)!;
    const value = entry.value === '' && spec.implicit !== undefined ? spec.implicit : entry.value;
    try {
      convert(spec, value);
    } catch (error) {
      const message = (error as Error).message;
      errors.push(`${where(entry.origin)}: ${entry.origin.source === 'cli' ? message : message.replace(/^--/, '')}`);
      return;
    }
    if (spec.type === 'bool' && oddBoolean(value)) {
      warnings.push(`${where(entry.origin)}: ${entry.key} = ${value} is read as true (only false, off, no and 0 are false, as in uWSGI)`);
    }
    raw.set(spec.name, [...(raw.get(spec.name) ?? []), value]);
    origins.set(spec.name, [...(origins.get(spec.name) ?? []), entry.origin]);
  };

  for (const entry of loaded.entries) {
    const u = uwsgiOption(entry.key);
    if (entry.placeholder) {
      if (!placeholders.has(entry.key)) placeholders.set(entry.key, entry.value);
    } else if (findOption(entry.key)) option(entry);
    else if (u) {
      if (!ignored.has(u.name)) {
        ignored.set(u.name, { value: entry.value, origin: entry.origin, plugin: u.plugin });
        const from = u.plugin === 'core' ? 'uWSGI' : `uWSGI's ${u.plugin} plugin`;
        warnings.push(`${where(entry.origin)}: ${entry.key}: an option of ${from} that nuwsgi does not implement; ignored`);
      }
    } else if (loaded.referenced.has(entry.key)) {
      if (!placeholders.has(entry.key)) placeholders.set(entry.key, entry.value);
    } else {
      problems.push(`${where(entry.origin)}: unknown option "${entry.key}"${suggestion(entry.key)}`);
    }
  }
  if (strict) errors.push(...problems);
  else warnings.push(...problems.map((p) => `${p} (ignored: strict is off)`));
  if (errors.length > 0) throw new ConfigError(errors.join('\n'));
  return { raw, origins, placeholders, ignored, warnings, strict };
}
