import { writeLog } from '../log.js';
import { vszBytes } from '../server/proc.js';
import type { RequestRecord } from './record.js';
import { compileLogFormat, formatDefaultLine, formatJsonLine, shouldLog, type LogFilterOptions } from './request-log.js';

export interface RequestLogOptions extends LogFilterOptions {
  logFormat?: string;
  logFormatJson: boolean;
  logMicros: boolean;
  memoryReport: boolean;
}

// Tab stays: formats use it as a separator, and it cannot start a new line.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/g;
const escapeControls = (line: string) => line.replace(CONTROL, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);

/**
 * The worker's side of the request log: one line per request, in the chosen format, collected
 * for the current turn of the event loop and written in one go to stderr, which the master reads
 * (see LogSink). Batching keeps logging to one syscall per turn instead of one per request.
 */
export class RequestLogger {
  private readonly format: (r: RequestRecord) => string;
  private pending: string[] = [];
  private scheduled = false;

  constructor(
    private readonly options: RequestLogOptions,
    // latin1: the fields hold the request's bytes one char each (as Node decodes headers), so
    // this writes those very bytes, as uWSGI's log does, instead of UTF-8-encoding them again.
    private readonly out: (text: string | Buffer) => void = (text) => writeLog(Buffer.from(text as string, 'latin1')),
  ) {
    if (options.logFormatJson) this.format = formatJsonLine;
    else {
      const line = options.logFormat
        ? compileLogFormat(options.logFormat)
        : (r: RequestRecord) => formatDefaultLine(r, { logMicros: options.logMicros, memoryReport: options.memoryReport });
      // A raw uwsgi client can put CR/LF in REQUEST_URI (nginx never does): never a forged line.
      this.format = (r) => escapeControls(line(r));
    }
  }

  /** Whether any request can be logged at all (lets the worker skip building records). */
  get enabled(): boolean {
    const o = this.options;
    return !o.disableLogging || o.log4xx || o.log5xx || o.logSlowMs > 0 || o.logBig > 0 || o.logZero;
  }

  log(record: RequestRecord): void {
    if (!shouldLog(record, this.options)) return;
    // --memory-report: the worker's memory after each request, as uWSGI samples it (both sizes).
    if (this.options.memoryReport) {
      record.rss = process.memoryUsage.rss();
      record.vsz = vszBytes(process.pid) ?? 0;
    }
    this.pending.push(this.format(record) + '\n');
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  flush(): void {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    const text = this.pending.join('');
    this.pending = [];
    this.out(text);
  }
}
