/**
 * The uWSGI model every source reduces to: an ordered list of (key, value) pairs, each remembering
 * where it came from so errors can name the file and line (uWSGI's own messages cannot).
 */
export interface Origin {
  source: 'file' | 'cli' | 'env';
  file?: string;
  line?: number;
  /** The environment variable, for source 'env'. */
  variable?: string;
}

export interface Entry {
  /** The key as written (uWSGI looks placeholders up by this exact text). */
  key: string;
  value: string;
  origin: Origin;
  /** False where uWSGI never expands $() @() %(): config-file paths and set-placeholder values. */
  expand: boolean;
  /** Declared with set-placeholder/set: a placeholder, not an option, even under strict. */
  placeholder?: boolean;
}

/** "a.ini:3", "command line", "environment UWSGI_PROCESSES". */
export function where(origin: Origin): string {
  if (origin.source === 'env') return `environment ${origin.variable}`;
  if (origin.source === 'cli') return 'command line';
  return origin.line ? `${origin.file}:${origin.line}` : `${origin.file}`;
}
