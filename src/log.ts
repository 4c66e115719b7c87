let writer = (text: string): void => void process.stderr.write(text);

/** Send log lines somewhere else (the master's LogSink: --logto, reopen, rotation). */
export function setLogWriter(write: (text: string) => void): void {
  writer = write;
}

/** Write text that already ends in a newline (whole lines) to the current log destination. */
export function writeLog(text: string): void {
  writer(text);
}

/**
 * Log lines go to stderr, as uWSGI's do by default, each in a single write so lines from the
 * master and several workers never interleave mid-line.
 */
export function log(line: string): void {
  writer(line.endsWith('\n') ? line : line + '\n');
}
