/**
 * Log lines go to stderr, as uWSGI's do by default, each in a single write so lines from the
 * master and several workers never interleave mid-line.
 */
export function log(line: string): void {
  process.stderr.write(line.endsWith('\n') ? line : line + '\n');
}
