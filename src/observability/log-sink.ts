import { closeSync, fstatSync, openSync, renameSync, statSync, writeSync } from 'node:fs';
import type { Readable } from 'node:stream';

/**
 * The one writer of the log (uWSGI's log-master): the master's own lines and every line its
 * workers print (request log, app output) pass through here, so lines from several processes
 * never interleave mid-line. Writes go to stderr, or to --logto FILE opened for appending,
 * which is reopened when it is moved away (move-and-reopen rotation) or on FIFO `l`;
 * copytruncate works as is, since every write appends at the current end.
 */
export class LogSink {
  private fd: number;
  private inode = 0;
  private dropped = 0;
  private lastComplaint = 0;
  private timer?: NodeJS.Timeout;

  constructor(private readonly file?: string) {
    this.fd = 2;
    if (file) this.open();
  }

  /** The descriptor lines go to: workers inherit it to log directly should the master die. */
  get descriptor(): number {
    return this.fd;
  }

  /** Watch for the file being moved or deleted by a log rotator, once a second. */
  start(): void {
    if (!this.file) return;
    this.timer = setInterval(() => this.followRotation(), 1000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private open(): void {
    this.fd = openSync(this.file!, 'a', 0o640);
    this.inode = fstatSync(this.fd).ino;
  }

  private followRotation(): void {
    let current: number | undefined;
    try {
      current = statSync(this.file!).ino;
    } catch {
      current = undefined;
    }
    if (current !== this.inode) this.reopen();
  }

  /** FIFO `l`: close and reopen the log file (after an external rotation). */
  reopen(): string {
    if (!this.file) return 'logging goes to stderr: nothing to reopen';
    const old = this.fd;
    try {
      this.open();
    } catch (error) {
      return `cannot reopen ${this.file}: ${(error as Error).message}`;
    }
    closeSync(old);
    return `log file ${this.file} reopened`;
  }

  /** FIFO `L`: rename the file to FILE.<unix time> and start a new one. */
  rotate(): string {
    if (!this.file) return 'logging goes to stderr: nothing to rotate';
    const target = `${this.file}.${Math.floor(Date.now() / 1000)}`;
    try {
      renameSync(this.file, target);
    } catch (error) {
      return `cannot rotate ${this.file}: ${(error as Error).message}`;
    }
    this.reopen();
    return `log file rotated to ${target}`;
  }

  /** Write whole lines (text ending in a newline). A full disk drops lines, never the server. */
  write(text: string): void {
    try {
      writeSync(this.fd, text);
    } catch (error) {
      this.dropped += (text.match(/\n/g) ?? []).length;
      const now = Date.now();
      if (now - this.lastComplaint > 60_000) {
        this.lastComplaint = now;
        try {
          writeSync(2, `nuwsgi: cannot write to the log ${this.file ?? 'stderr'} (${(error as NodeJS.ErrnoException).code ?? error}): ${this.dropped} lines dropped so far\n`);
        } catch {
          // stderr is gone too: nothing left to tell
        }
      }
    }
  }

  /** Take a worker's output stream: complete lines are written as they come, a partial tail waits. */
  follow(stream: Readable): void {
    let tail = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      const text = tail + chunk;
      const end = text.lastIndexOf('\n');
      if (end === -1) {
        tail = text;
        return;
      }
      tail = text.slice(end + 1);
      this.write(text.slice(0, end + 1));
    });
    stream.on('end', () => {
      if (tail) this.write(tail + '\n');
      tail = '';
    });
    stream.on('error', () => {});
  }
}
