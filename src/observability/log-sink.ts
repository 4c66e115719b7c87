import { closeSync, existsSync, fstatSync, ftruncateSync, openSync, renameSync, statSync, writeSync } from 'node:fs';
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
    const stamped = `${this.file}.${Math.floor(Date.now() / 1000)}`;
    // rename() silently replaces: a second rotation in the same second would wipe the first.
    let target = stamped;
    for (let n = 1; existsSync(target); n++) target = `${stamped}.${n}`;
    try {
      renameSync(this.file, target);
    } catch (error) {
      return `cannot rotate ${this.file}: ${(error as Error).message}`;
    }
    this.reopen();
    return `log file rotated to ${target}`;
  }

  /** Write whole lines (text ending in a newline). A full disk drops lines, never the server. */
  write(text: string | Buffer): void {
    const data = typeof text === 'string' ? Buffer.from(text) : text;
    let written = 0;
    try {
      // A file system running out of space takes part of a write, then fails the rest.
      while (written < data.length) written += writeSync(this.fd, data, written);
    } catch (error) {
      this.dropped += this.cutPartialLine(data, written);
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

  /**
   * After a failed write, remove the half line it left at the end of the file, so that once space
   * is back the next line does not continue it. Returns the number of lines lost.
   */
  private cutPartialLine(data: Buffer, written: number): number {
    const whole = written > 0 ? data.lastIndexOf(0x0a, written - 1) + 1 : 0;
    const partial = written - whole;
    if (partial > 0) {
      try {
        ftruncateSync(this.fd, fstatSync(this.fd).size - partial);
      } catch {
        // not a regular file (a pipe, a tty): nothing to cut
      }
    }
    let lines = 0;
    for (let i = data.indexOf(0x0a, whole); i !== -1; i = data.indexOf(0x0a, i + 1)) lines++;
    return lines;
  }

  /** Take a worker's output stream: complete lines are written as they come, a partial tail waits. */
  follow(stream: Readable): void {
    // Bytes, not text: request lines carry the request's raw bytes (as uWSGI logs them), which
    // need not be valid UTF-8; they are passed through untouched.
    let tail: Buffer = Buffer.alloc(0);
    stream.on('data', (chunk: Buffer) => {
      const data = tail.length > 0 ? Buffer.concat([tail, chunk]) : chunk;
      const end = data.lastIndexOf(0x0a);
      if (end === -1) {
        tail = data;
        return;
      }
      tail = data.subarray(end + 1);
      this.write(data.subarray(0, end + 1));
    });
    stream.on('end', () => {
      if (tail.length > 0) this.write(Buffer.concat([tail, Buffer.from('\n')]));
      tail = Buffer.alloc(0);
    });
    stream.on('error', () => {});
  }
}
