let writer = (text: string | Buffer): void => void process.stderr.write(text);

/** Send log lines somewhere else (the master's LogSink: --logto, reopen, rotation). */
export function setLogWriter(write: (text: string | Buffer) => void): void {
  writer = write;
}

/** Write whole lines (ending in a newline) to the current log destination. */
export function writeLog(text: string | Buffer): void {
  writer(text);
}

/**
 * Log lines go to stderr, as uWSGI's do by default, each in a single write so lines from the
 * master and several workers never interleave mid-line.
 */
export function log(line: string): void {
  writer(line.endsWith('\n') ? line : line + '\n');
}
