/**
 * uWSGI's request log, as pure functions of a RequestRecord: the default line, `--log-format`,
 * a JSON-lines variant, and the rules that decide whether a request is logged at all.
 *
 * Every rendering follows uWSGI 2.0's core/logging.c (`uwsgi_logit_simple` for the default line,
 * the `uwsgi_lf_*` chunk functions and `uwsgi_build_log_format` for --log-format, `log_request`
 * for the filters), checked against the real uWSGI by test/uwsgi-logline.test.ts. Where nuwsgi
 * deliberately differs, the comment says so.
 *
 * What the record's fields must hold for the output to match uWSGI:
 * - `vars` is uWSGI's var_cnt, which counts keys and values separately: 2 x the pairs.
 * - `pktsize` is the packet header's datasize (the var block, without the 4-byte header).
 * - `host` is HTTP_HOST, else SERVER_NAME (uWSGI's wsgi_req->host).
 * - `hsize` is every byte sent before the body: status line, header lines, the empty line.
 * All returned lines have no trailing newline; the writer adds it.
 */
import type { RequestRecord } from './record.js';

// ---------------------------------------------------------------- time helpers

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const DAYS_LONG = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const MONTHS_LONG = [
  'January', 'February', 'March', 'April', 'May', 'June',
  'July', 'August', 'September', 'October', 'November', 'December',
];

const pad2 = (n: number): string => (n < 10 ? '0' : '') + n;
const pad3 = (n: number): string => String(n).padStart(3, '0');

/** Request start in whole µs. startMs may carry a fraction; rounding recovers exact µs. */
const startUs = (r: RequestRecord): number => Math.round(r.startMs * 1000);
/** Request start in whole seconds, as uWSGI's start_of_request / 1000000. */
const startSec = (r: RequestRecord): number => Math.floor(startUs(r) / 1e6);
/** Duration in whole µs; uWSGI's clocks give integers, and never a negative span here. */
const durUs = (r: RequestRecord): number => Math.max(0, Math.floor(r.durationUs));
/** Duration in ms by integer division of µs, as uWSGI does everywhere. */
const durMs = (r: RequestRecord): number => Math.floor(durUs(r) / 1000);

let ctimeCacheSec = NaN;
let ctimeCache = '';

/**
 * ctime(3) of a unix second in local time, cut to its first 24 characters as uWSGI's `%.24s`:
 * "Fri Nov 27 08:40:50 2026" (the day of month is space-padded to 2).
 */
export function ctime24(sec: number): string {
  // One entry is enough: consecutive requests mostly start in the same second.
  if (sec === ctimeCacheSec) return ctimeCache;
  const d = new Date(sec * 1000);
  const s =
    `${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]}${String(d.getDate()).padStart(3, ' ')} ` +
    `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())} ${d.getFullYear()}`;
  ctimeCacheSec = sec;
  ctimeCache = s.slice(0, 24);
  return ctimeCache;
}

/** strftime's %z: "+0530", "-0330". */
function tzOffset(d: Date): string {
  const off = -d.getTimezoneOffset();
  const a = Math.abs(off);
  return (off < 0 ? '-' : '+') + pad2(Math.floor(a / 60)) + pad2(a % 60);
}

/** %Z: the zone abbreviation as Intl knows it (glibc may say "IST" where Intl says "GMT+5:30"). */
function tzName(d: Date): string {
  const part = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' })
    .formatToParts(d)
    .find((p) => p.type === 'timeZoneName');
  return part ? part.value : '';
}

function dayOfYear(d: Date): number {
  const jan1 = new Date(d.getFullYear(), 0, 1);
  const today = new Date(d.getFullYear(), d.getMonth(), d.getDate());
  return Math.round((today.getTime() - jan1.getTime()) / 86_400_000) + 1;
}

const hour12 = (d: Date): number => d.getHours() % 12 || 12;

/** One strftime conversion in the C locale, or undefined if unsupported. */
function strftimeConversion(c: string, d: Date): string | undefined {
  switch (c) {
    case 'a': return DAYS[d.getDay()];
    case 'A': return DAYS_LONG[d.getDay()];
    case 'b': case 'h': return MONTHS[d.getMonth()];
    case 'B': return MONTHS_LONG[d.getMonth()];
    case 'c': return ctime24(Math.floor(d.getTime() / 1000));
    case 'C': return pad2(Math.floor(d.getFullYear() / 100));
    case 'd': return pad2(d.getDate());
    case 'D': return `${pad2(d.getMonth() + 1)}/${pad2(d.getDate())}/${pad2(d.getFullYear() % 100)}`;
    case 'e': return String(d.getDate()).padStart(2, ' ');
    case 'F': return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}`;
    case 'H': return pad2(d.getHours());
    case 'I': return pad2(hour12(d));
    case 'j': return pad3(dayOfYear(d));
    case 'k': return String(d.getHours()).padStart(2, ' ');
    case 'l': return String(hour12(d)).padStart(2, ' ');
    case 'm': return pad2(d.getMonth() + 1);
    case 'M': return pad2(d.getMinutes());
    case 'n': return '\n';
    case 'p': return d.getHours() < 12 ? 'AM' : 'PM';
    case 'P': return d.getHours() < 12 ? 'am' : 'pm';
    case 'r': return `${pad2(hour12(d))}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())} ${d.getHours() < 12 ? 'AM' : 'PM'}`;
    case 'R': return `${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
    case 's': return String(Math.floor(d.getTime() / 1000));
    case 'S': return pad2(d.getSeconds());
    case 't': return '\t';
    case 'T': case 'X': return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
    case 'u': return String(d.getDay() || 7);
    case 'w': return String(d.getDay());
    case 'x': return `${pad2(d.getMonth() + 1)}/${pad2(d.getDate())}/${pad2(d.getFullYear() % 100)}`;
    case 'y': return pad2(d.getFullYear() % 100);
    case 'Y': return String(d.getFullYear());
    case 'z': return tzOffset(d);
    case 'Z': return tzName(d);
    case '%': return '%';
    default: return undefined;
  }
}

/**
 * strftime(3) into uWSGI's 64-byte buffer, local time, C locale. Returns '' when the result does
 * not fit (strftime returns 0 there, and uWSGI then logs "-"). Supported: the conversions in
 * strftimeConversion; anything else (week numbers, flags like %-d, widths) is copied literally,
 * as glibc does for conversions it does not know.
 */
export function strftime(pattern: string, ms: number): string {
  const d = new Date(ms);
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch !== '%' || i + 1 >= pattern.length) {
      out += ch;
      continue;
    }
    const conv = strftimeConversion(pattern[i + 1], d);
    out += conv ?? '%' + pattern[i + 1];
    i++;
  }
  return Buffer.byteLength(out) >= 64 ? '' : out;
}

let ltimeCacheSec = NaN;
let ltimeCache = '';

/** %(ltime): Apache's "27/Nov/2026:05:11:25 -0330", local time. */
function ltime(sec: number): string {
  if (sec !== ltimeCacheSec) {
    ltimeCacheSec = sec;
    ltimeCache = strftime('%d/%b/%Y:%H:%M:%S %z', sec * 1000);
  }
  return ltimeCache;
}

/**
 * uwsgi_float2str: printf("%f") of a C float into an 11-byte buffer, so at most 10 characters
 * ("1234.56789" for 1234.567890). The value is rounded to float32 first and then to 6 decimals
 * with ties to even, as glibc does; v * 1e6 is exact in a double for any float32 v.
 */
function float2str(x: number): string {
  const v = Math.fround(x);
  const neg = v < 0;
  const scaled = Math.abs(v) * 1e6;
  let n = Math.floor(scaled);
  const frac = scaled - n;
  if (frac > 0.5 || (frac === 0.5 && n % 2 === 1)) n++;
  const int = Math.floor(n / 1e6);
  const dec = String(n - int * 1e6).padStart(6, '0');
  return ((neg ? '-' : '') + int + '.' + dec).slice(0, 10);
}

// ---------------------------------------------------------------- default line

export interface DefaultLineOptions {
  /** --log-micros: the duration in µs, with the unit "micros" instead of "msecs". */
  logMicros?: boolean;
  /** --memory-report: prefix "{address space usage: ...} {rss usage: ...} " (from r.vsz/r.rss). */
  memoryReport?: boolean;
  /** --vhost: prefix the host and a space. */
  vhost?: boolean;
}

/** uWSGI's buffer for the line; a longer line is replaced by a minimal one. */
const LOG_PACKET_SIZE = 4096;

/**
 * uWSGI's default request line (uwsgi_logit_simple). nuwsgi has one app (app: 0), one core
 * (core 0), one switch per request, and never serves "via sendfile()/route()/offload()", so the
 * text between the duration and "(PROTO STATUS)" is always a single space.
 */
export function formatDefaultLine(r: RequestRecord, opts: DefaultLineOptions = {}): string {
  const time = ctime24(startSec(r));
  const duration = opts.logMicros ? `${durUs(r)} micros` : `${durMs(r)} msecs`;
  const head = `[pid: ${r.pid}|app: 0|req: ${appRequests(r)}/${r.globalCount}]`;
  const tail =
    `=> generated ${r.rsize} bytes in ${duration} ` +
    `(${r.proto} ${r.status}) ${r.headers} headers in ${r.hsize} bytes (1 switches on core 0)`;
  let line =
    `${head} ${r.addr} (${r.user}) {${r.vars} vars in ${r.pktsize} bytes} [${time}] ` +
    `${r.method} ${r.uri} ${tail}`;
  // uWSGI formats into 4096 bytes including the newline; if that does not fit, it logs a safe
  // minimal line without the request's strings (a line of exactly 4095 bytes is written with a
  // NUL instead of its newline there, a bug not reproduced here).
  if (Buffer.byteLength(line) + 1 > LOG_PACKET_SIZE) {
    line =
      `${head} 0.0.0.0 () {${r.vars} vars in ${r.pktsize} bytes} [${time}] - - ` +
      `=> generated ${r.rsize} bytes in ${duration} ` +
      `(- ${r.status}) ${r.headers} headers in ${r.hsize} bytes (1 switches on core 0)`;
  }
  return prefixes(r, opts) + line;
}

/** uWSGI prints -1 for an app that has not counted any request. */
const appRequests = (r: RequestRecord): number => (r.requestCount > 0 ? r.requestCount : -1);

function prefixes(r: RequestRecord, opts: DefaultLineOptions): string {
  let out = '';
  if (opts.vhost) out += r.host + ' ';
  if (opts.memoryReport) {
    out +=
      `{address space usage: ${r.vsz} bytes/${mb(r.vsz)}MB} ` +
      `{rss usage: ${r.rss} bytes/${mb(r.rss)}MB} `;
  }
  return out;
}

const mb = (bytes: number): number => Math.floor(bytes / 1024 / 1024);

// ---------------------------------------------------------------- --log-format

type Render = (r: RequestRecord) => string;

export interface LogFormatOptions {
  /**
   * The strftime pattern for %(ftime). uWSGI uses its --log-date pattern there only when
   * --logformat-strftime is also set; pass it only in that case. Without it %(ftime) is %(ltime).
   */
  strftime?: string;
  /** Value of %(metric.NAME). uWSGI prints 0 for a metric it does not have; so does the default. */
  metric?: (name: string) => number | undefined;
}

/** The variables uWSGI 2.0 registers (uwsgi_register_logchunks), rendered as uWSGI does. */
function variables(opts: LogFormatOptions): Record<string, Render> {
  const pattern = opts.strftime;
  const ftime: Render = pattern ? (r) => strftime(pattern, startSec(r) * 1000) : (r) => ltime(startSec(r));
  return {
    // Request strings (uWSGI reads them straight from the parsed request).
    uri: (r) => r.uri,
    method: (r) => r.method,
    user: (r) => r.user,
    addr: (r) => r.addr,
    host: (r) => r.host,
    proto: (r) => r.proto,
    uagent: (r) => r.uagent,
    referer: (r) => r.referer,
    // Response.
    status: (r) => String(r.status),
    rsize: (r) => String(r.rsize),
    hsize: (r) => String(r.hsize),
    size: (r) => String(r.hsize + r.rsize),
    headers: (r) => String(r.headers),
    cl: (r) => String(r.cl),
    // Duration: integer µs, integer ms (µs / 1000, truncated), float seconds.
    micros: (r) => String(durUs(r)),
    msecs: (r) => String(durMs(r)),
    secs: (r) => float2str(durUs(r) / 1e6),
    // Start of the request.
    time: (r) => String(startSec(r)),
    tmsecs: (r) => String(Math.floor(startUs(r) / 1000)),
    tmicros: (r) => String(startUs(r)),
    ctime: (r) => ctime24(startSec(r)),
    ltime: (r) => ltime(startSec(r)),
    ftime,
    // uWSGI's epoch is time(NULL) when the line is written, i.e. the end of the request.
    epoch: (r) => String(Math.floor((startUs(r) + durUs(r)) / 1e6)),
    // Process and packet.
    pid: (r) => String(r.pid),
    wid: (r) => String(r.wid),
    core: () => '0',
    switches: () => '1',
    vars: (r) => String(r.vars),
    pktsize: (r) => String(r.pktsize),
    modifier1: (r) => String(r.modifier1),
    modifier2: (r) => String(r.modifier2),
    // uWSGI prints these through a C int, which wraps above 2 GiB; nuwsgi prints the real value.
    vsz: (r) => String(r.vsz),
    rss: (r) => String(r.rss),
    vszM: (r) => String(mb(r.vsz)),
    rssM: (r) => String(mb(r.rss)),
    // nuwsgi only knows "the response did not finish", which is a write error.
    rerr: () => '0',
    werr: (r) => (r.ioError ? '1' : '0'),
    ioerr: (r) => (r.ioError ? '1' : '0'),
  };
}

/** Names %(NAME) accepts besides var.NAME and metric.NAME, in uWSGI's registration order. */
export const LOG_FORMAT_VARIABLES: readonly string[] = Object.keys(variables({}));

type Chunk = { text: string } | { name: string };

/**
 * Splits a format into literal text and variable names exactly as uWSGI's
 * uwsgi_build_log_format state machine does, quirks included:
 * - "%(" opens a variable, ")" closes it; there is no escape: "%%(uri)" is "%" then %(uri).
 * - a "%" or "(" that does not complete an opener keeps the state, so "%%(" and "%((" open too.
 * - a ")" with no variable open is literal; an unclosed "%(name" is literal to the end.
 * - literal text is sliced from the end of the last variable, so text that a later opener
 *   abandons can appear twice ("%()x" renders "%%()x"), as in uWSGI.
 */
export function parseLogFormat(format: string): Chunk[] {
  const chunks: Chunk[] = [];
  let state = 0; // 0: text, 1: after "%", 2: after "%("
  let current = 0; // start of the pending literal
  let varStart = -1; // start of the open variable name
  for (let i = 0; i < format.length; i++) {
    const ch = format[i];
    if (ch === '%') {
      if (state === 0) state = 1;
    } else if (ch === '(') {
      if (state === 1) state = 2;
    } else if (ch === ')') {
      if (varStart >= 0) {
        chunks.push({ name: format.slice(varStart, i) });
        state = 0;
        varStart = -1;
        current = i + 1;
      }
    } else {
      if (state === 2) {
        chunks.push({ text: format.slice(current, i - 2) });
        varStart = i;
      }
      state = 0;
    }
  }
  if (format.length > current) chunks.push({ text: format.slice(current) });
  return chunks.filter((c) => !('text' in c) || c.text.length > 0);
}

/** A variable's renderer: registered names first, then var.NAME, metric.NAME, else "-". */
function resolve(name: string, vars: Record<string, Render>, opts: LogFormatOptions): Render {
  if (Object.hasOwn(vars, name)) return vars[name];
  if (name.startsWith('var.')) {
    const key = name.slice(4);
    return (r) => r.var(key) ?? '';
  }
  if (name.startsWith('metric.')) {
    const metric = name.slice(7);
    const get = opts.metric;
    return () => String(get?.(metric) ?? 0);
  }
  // uWSGI treats any other name as an app-set log var (uwsgi.set_logvar); nuwsgi has none.
  return () => '';
}

/**
 * Compiles a uWSGI --log-format string once into a renderer. Every variable that renders empty
 * is printed as "-" (uWSGI's rule for all non-literal chunks), so a missing user or referer
 * gives "-" and a zero number gives "0".
 */
export function compileLogFormat(format: string, opts: LogFormatOptions = {}): (r: RequestRecord) => string {
  const vars = variables(opts);
  const parts: Render[] = parseLogFormat(format).map((c) => {
    if ('text' in c) {
      const text = c.text;
      return () => text;
    }
    const render = resolve(c.name, vars, opts);
    return (r) => render(r) || '-';
  });
  return (r) => {
    let out = '';
    for (let i = 0; i < parts.length; i++) out += parts[i](r);
    return out;
  };
}

// ---------------------------------------------------------------- JSON lines

/**
 * Fields of a JSON line, named after the log-format variables and meaning the same; strings are
 * '' when absent (not "-"), numbers are numbers. Order is stable.
 */
export const JSON_LINE_FIELDS = [
  'time', 'tmsecs', 'addr', 'user', 'method', 'uri', 'proto', 'status', 'msecs', 'micros',
  'size', 'rsize', 'hsize', 'headers', 'cl', 'host', 'uagent', 'referer', 'vars', 'pktsize',
  'modifier1', 'modifier2', 'pid', 'wid', 'ioerr', 'rss', 'vsz',
] as const;

/** One JSON object, no newline. JSON.stringify escapes control characters, so it is one line. */
export function formatJsonLine(r: RequestRecord): string {
  return JSON.stringify({
    time: startSec(r),
    tmsecs: Math.floor(startUs(r) / 1000),
    addr: r.addr,
    user: r.user,
    method: r.method,
    uri: r.uri,
    proto: r.proto,
    status: r.status,
    msecs: durMs(r),
    micros: durUs(r),
    size: r.hsize + r.rsize,
    rsize: r.rsize,
    hsize: r.hsize,
    headers: r.headers,
    cl: r.cl,
    host: r.host,
    uagent: r.uagent,
    referer: r.referer,
    vars: r.vars,
    pktsize: r.pktsize,
    modifier1: r.modifier1,
    modifier2: r.modifier2,
    pid: r.pid,
    wid: r.wid,
    ioerr: r.ioError ? 1 : 0,
    rss: r.rss,
    vsz: r.vsz,
  });
}

// ---------------------------------------------------------------- filters

export interface LogFilterOptions {
  /** --disable-logging: no request lines, except those the options below ask for. */
  disableLogging: boolean;
  /** --log-4xx / --log-5xx: log responses with such a status even when disabled. */
  log4xx: boolean;
  log5xx: boolean;
  /** --log-slow MS: log requests taking at least MS ms (0: off). */
  logSlowMs: number;
  /** --log-big BYTES: log responses whose body is at least BYTES (0: off). */
  logBig: number;
  /** --log-zero: log responses with an empty body. */
  logZero: boolean;
}

/**
 * uWSGI's log_request: the conditional options force a line even under --disable-logging, and
 * never suppress one otherwise. Sizes are the body only (response_size), durations are ms by
 * integer division, and the slow and big thresholds are inclusive (>=). uWSGI's --log-sendfile
 * and --log-ioerror have no counterpart here (no sendfile; the record has no read/write error
 * split, and uWSGI's --log-ioerror needs both).
 */
export function shouldLog(r: RequestRecord, opts: LogFilterOptions): boolean {
  if (opts.logZero && r.rsize === 0) return true;
  if (opts.logSlowMs > 0 && durMs(r) >= opts.logSlowMs) return true;
  if (opts.log4xx && r.status >= 400 && r.status <= 499) return true;
  if (opts.log5xx && r.status >= 500 && r.status <= 599) return true;
  if (opts.logBig > 0 && r.rsize >= opts.logBig) return true;
  return !opts.disableLogging;
}
