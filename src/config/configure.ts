import { applyEntries, type Applied } from './apply.js';
import type { Entry } from './entries.js';
import { loadEntries, type LoadOptions } from './load.js';

export interface Configured extends Applied {
  /** The assembled list, expanded: what uWSGI's own --show-config prints. */
  entries: Entry[];
  /** Config files read, in order. */
  files: string[];
}

/** Every source -> one ordered list -> nuwsgi's options. Throws ConfigError with every problem found. */
export function configure(argv: readonly string[], options: LoadOptions = {}): Configured {
  const loaded = loadEntries(argv, options);
  return { ...applyEntries(loaded), entries: loaded.entries, files: loaded.files };
}
