import { closeSync, createWriteStream, existsSync, fstatSync, ftruncateSync, openSync, renameSync, statSync, writeSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { written } from '../written.js';

/**
 * How much the log may hold in memory while its reader is slow. Past it the master stops reading
 * its workers' output (they then wait on their own full pipes) until the reader catches up.
 */
export const LOG_BACKLOG_BYTES = 1 << 20;

/**
 * The longest line kept waiting for its newline. An app that prints without newlines would
 * otherwise grow the master by everything it prints; past this the part is written as a line
 * ending in LOG_CONTINUED, and the rest follows on the next line.
 */
export const LOG_LINE_MAX_BYTES = 64 * 1024;

/** Ends a piece of a longer line, so the reader can join the pieces again. */
export const LOG_CONTINUED = ' [line continues]';

/** How often a failing destination is reported (the report itself may fail too). */
const COMPLAINT_INTERVAL_MS = 60_000;

/**
 * The one writer of the log (uWSGI's log-master): the master's own lines and every line its
 * workers print (request log, app output) pass through here, so lines from several processes
 * never interleave mid-line. Writes go to stderr, or to --logto FILE opened for appending,
 * which is reopened when it is moved away (move-and-reopen rotation) or on FIFO `l`;
 * copytruncate works as is, since every write appends at the current end.
 *
 * A regular file takes whole lines with one O_APPEND write each. A pipe, socket or tty (docker's
 * log driver, `| tee`, journald) is written through Node's stream for it: since Node 22 the
 * stderr descriptor ends up non-blocking, and a synchronous write into a full pipe fails with
 * EAGAIN, which lost lines. The stream waits for writability instead, and a backlog past
 * LOG_BACKLOG_BYTES pauses the workers' output. Only a destination that has really failed
 * (EPIPE, ENOSPC, EIO) drops lines, counted in `dropped`.
 */
export class LogSink {
  private fd: number;
  private inode = 0;
  private stream?: Writable;
  private streamFailed?: NodeJS.ErrnoException;
  private droppedLines = 0;
  private lastComplaint = 0;
  /** Lines dropped since the log last took a write: said in the log itself once it works again. */
  private unreported = 0;
  private readonly sources = new Set<Readable>();
  private paused = false;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly file?: string,
    private readonly stderr: () => Writable = () => process.stderr,
  ) {
    this.fd = 2;
    if (file) this.open();
    else if (!isRegularFile(2)) this.useStream(this.stderr());
  }

  /** Lines lost to a failed destination since start. */
  get dropped(): number {
    return this.droppedLines;
  }

  private useStream(stream: Writable): void {
    this.stream = stream;
    stream.on('drain', () => this.resumeSources());
    stream.on('error', (error: NodeJS.ErrnoException) => {
      // What was still queued is lost with the destination; count it and stop pausing workers.
      // (An error of a stream a reopen has replaced says nothing of the new destination.)
      if (this.stream === stream) this.streamFailed = error;
      this.resumeSources();
      this.complain(error);
    });
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
    this.streamFailed = undefined;
    this.inode = fstatSync(this.fd).ino;
    // --logto /dev/stdout or a named pipe: a reader that may be slow, as for stderr.
    if (!isRegularFile(this.fd)) this.useStream(createWriteStream('', { fd: this.fd, autoClose: false }));
    else this.stream = undefined;
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
    const oldStream = this.stream;
    try {
      this.open();
    } catch (error) {
      return `cannot reopen ${this.file}: ${(error as Error).message}`;
    }
    // A stream still writing its backlog closes the old descriptor once it is done.
    if (oldStream) oldStream.end(() => closeSync(old));
    else closeSync(old);
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
    if (this.stream) return this.writeStream(this.stream, data);
    let written = 0;
    try {
      // A file system running out of space takes part of a write, then fails the rest.
      while (written < data.length) written += writeSync(this.fd, data, written);
      if (this.unreported > 0) this.markGap();
    } catch (error) {
      const lost = this.cutPartialLine(data, written);
      this.droppedLines += lost;
      this.unreported += lost;
      this.complain(error as NodeJS.ErrnoException);
    }
  }

  private markGap(): void {
    const gap = `nuwsgi: ${this.unreported} log lines were dropped here (the log could not be written)\n`;
    this.unreported = 0;
    this.write(gap);
  }

  private writeStream(stream: Writable, data: Buffer): void {
    if (this.streamFailed || stream.destroyed) {
      this.droppedLines += countLines(data);
      return;
    }
    // Never dropped for being slow: the stream keeps it until the reader takes it, and the
    // workers' output is paused while the backlog is over its bound.
    stream.write(data);
    if (stream.writableLength > LOG_BACKLOG_BYTES) this.pauseSources();
  }

  /** Say once a minute, where it can still be seen, that the log is failing. */
  private complain(error: NodeJS.ErrnoException): void {
    const now = Date.now();
    if (now - this.lastComplaint < COMPLAINT_INTERVAL_MS) return;
    this.lastComplaint = now;
    const where = this.file ?? 'stderr';
    const message = `nuwsgi: cannot write to the log ${where} (${error.code ?? error.message}): ${this.droppedLines} lines dropped so far (see log_dropped in stats)\n`;
    // When the log is stderr itself there is no other place; the count stays in stats and metrics.
    if (this.file) this.stderr().write(message);
  }

  private pauseSources(): void {
    if (this.paused) return;
    this.paused = true;
    for (const source of this.sources) source.pause();
  }

  private resumeSources(): void {
    if (!this.paused) return;
    this.paused = false;
    for (const source of this.sources) source.resume();
  }

  /** Resolves once everything accepted is written (or the destination failed), bounded by `timeoutMs`. */
  flush(timeoutMs: number): Promise<void> {
    return this.stream && !this.streamFailed ? written(this.stream, timeoutMs) : Promise.resolve();
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
    return countLines(data.subarray(whole));
  }

  /** Take a worker's output stream: complete lines are written as they come, a partial tail waits. */
  follow(stream: Readable): void {
    // Bytes, not text: request lines carry the request's raw bytes (as uWSGI logs them), which
    // need not be valid UTF-8; they are passed through untouched.
    let tail: Buffer = Buffer.alloc(0);
    this.sources.add(stream);
    if (this.paused) stream.pause();
    stream.on('data', (chunk: Buffer) => {
      const data = tail.length > 0 ? Buffer.concat([tail, chunk]) : chunk;
      const end = data.lastIndexOf(0x0a);
      if (end === -1) {
        if (data.length <= LOG_LINE_MAX_BYTES) return void (tail = data);
        // Cut where a line would have ended, so the log stays made of lines of bounded size.
        const whole = data.length - (data.length % LOG_LINE_MAX_BYTES);
        for (let at = 0; at < whole; at += LOG_LINE_MAX_BYTES) this.write(Buffer.concat([data.subarray(at, at + LOG_LINE_MAX_BYTES), CONTINUED]));
        tail = data.subarray(whole);
        return;
      }
      tail = data.subarray(end + 1);
      this.write(data.subarray(0, end + 1));
    });
    stream.on('end', () => {
      if (tail.length > 0) this.write(Buffer.concat([tail, NEWLINE]));
      tail = Buffer.alloc(0);
    });
    stream.on('close', () => this.sources.delete(stream));
    stream.on('error', () => {});
  }
}

const NEWLINE = Buffer.from('\n');
const CONTINUED = Buffer.from(`${LOG_CONTINUED}\n`);

function isRegularFile(fd: number): boolean {
  try {
    return fstatSync(fd).isFile();
  } catch {
    return false;
  }
}

function countLines(data: Buffer): number {
  let lines = 0;
  for (let i = data.indexOf(0x0a); i !== -1; i = data.indexOf(0x0a, i + 1)) lines++;
  return lines;
}
