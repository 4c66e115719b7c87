import type { Entry } from './entries.js';

/** Variables uWSGI sets for itself (reloads, Emperor): never options (core/utils.c parse_sys_envs). */
const INTERNAL = new Set(['RELOADS', 'VASSALS_DIR', 'EMPEROR_FD', 'BROODLORD_NUM', 'EMPEROR_FD_CONFIG', 'EMPEROR_PROXY', 'JAIL_PID', 'ORIGINAL_PROC_NAME']);

/**
 * UWSGI_FOO_BAR=v is option foo-bar = v: prefix stripped, lower-cased, `_` to `-`, value untouched;
 * one value per option, in the environment's order. This is the first source uWSGI reads, so the
 * command line and any config file override it.
 */
export function envEntries(env: NodeJS.ProcessEnv): Entry[] {
  const entries: Entry[] = [];
  for (const [variable, value] of Object.entries(env)) {
    if (!variable.startsWith('UWSGI_') || value === undefined) continue;
    const name = variable.slice(6);
    if (name === '' || INTERNAL.has(name)) continue;
    entries.push({ key: name.toLowerCase().replace(/_/g, '-'), value, origin: { source: 'env', variable }, expand: true });
  }
  return entries;
}
