import { ServerResponse, STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { printable } from '../protocol/printable.js';
import { dropBody, kNeedDrain, kOutHeaders, replaceStoreHeader, storeHeader, storedHead } from '../node-internals.js';

// The Node internals used here (`_storeHeader`, which gets Node's own header map, a plain object
// or a raw array; kNeedDrain; kOutHeaders; `_hasBody`; `_header`) live in node-internals.ts.

/**
 * Response headers that describe the uwsgi hop, not the response, and so never leave nuwsgi:
 * - hop-by-hop headers (RFC 9110 §7.6.1): the connection to the front end is one request long
 *   and close-delimited, whatever the app says. `Transfer-Encoding` above all: nginx neither
 *   strips the chunk framing nor the header's effect, the client gets the framing as body
 *   (protocol.md §5.3). `Trailer` would make Node throw, there being no chunking to carry it.
 * - `Status`: the CGI way to give a status. nginx forwards it to the client as a literal
 *   header next to the real status line (protocol.md §5.2): a second, possibly contradicting,
 *   status.
 * A real 101 (the request asked to upgrade) keeps its Connection and Upgrade, a 426 its Upgrade.
 */
const HOP_HEADERS = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'status']);

/** Node's errors for a header name or value (or status message) that cannot go on the wire. */
const UNWRITABLE = new Set(['ERR_INVALID_CHAR', 'ERR_INVALID_HTTP_TOKEN', 'ERR_HTTP_INVALID_STATUS_CODE']);
const isUnwritable = (error: unknown) => UNWRITABLE.has((error as { code?: string } | null)?.code ?? '');

/** A Content-Length the front ends agree on: one decimal number (several equal ones collapse). */
function contentLength(value: unknown): string | undefined {
  const values = Array.isArray(value) ? value.map(String) : [String(value)];
  const first = values[0]?.trim();
  if (!first || !/^[0-9]{1,15}$/.test(first) || values.some((v) => v.trim() !== first)) return undefined;
  return first;
}

/** What to do with one header: drop it, keep it as is, or send the returned cleaned value. */
function verdict(name: unknown, value: unknown, status: number): 'drop' | 'keep' | string {
  if (typeof name !== 'string') return 'keep';
  const lower = name.toLowerCase();
  // 426 Upgrade Required must say which protocols (RFC 9110 §15.5.22): an end-to-end use.
  if (lower === 'upgrade' && status === 426) return 'keep';
  if (HOP_HEADERS.has(lower)) return 'drop';
  if (lower === 'content-length') {
    const cleaned = contentLength(value);
    if (cleaned === undefined) return 'drop';
    return Array.isArray(value) || String(value) !== cleaned ? cleaned : 'keep';
  }
  return 'keep';
}

/** Node's header map rebuilt through the public API, should its private symbol ever go. */
function headerMap(res: ServerResponse): Record<string, [string, unknown]> {
  const map: Record<string, [string, unknown]> = {};
  for (const name of res.getHeaderNames()) map[name] = [name, res.getHeader(name)];
  return map;
}

/** The headers in any shape `_storeHeader` gets, without what the uwsgi hop must not carry. */
function cleanHeaders(res: ServerResponse, headers: unknown): unknown {
  // Node's own map (setHeader, or writeHead after setHeader), keyed by lower-case name: only
  // the names verdict() may act on are looked at, and edits go through the public API.
  const map = kOutHeaders ? ((res as unknown as Record<symbol, Record<string, [string, unknown]> | null>)[kOutHeaders] ?? undefined) : headerMap(res);
  for (const name in map) {
    if (name !== 'content-length' && !HOP_HEADERS.has(name)) continue;
    const v = verdict(name, map[name][1], res.statusCode);
    if (v === 'drop') res.removeHeader(name);
    else if (v !== 'keep') res.setHeader(map[name][0], v);
  }
  if (headers === null || typeof headers !== 'object') return headers;
  // That map again: already clean.
  if (kOutHeaders && headers === (res as unknown as Record<symbol, unknown>)[kOutHeaders]) return headers;
  if (!Array.isArray(headers)) {
    // The plain object of a writeHead() with no setHeader() before it.
    const copy: Record<string, unknown> = {};
    let changed = false;
    for (const key of Object.keys(headers)) {
      const raw = (headers as Record<string, unknown>)[key];
      const v = verdict(key, raw, res.statusCode);
      if (v === 'drop') changed = true;
      else if (v !== 'keep') {
        copy[key] = v;
        changed = true;
      } else copy[key] = raw;
    }
    return changed ? copy : headers;
  }
  // A raw array, flat or of pairs: a name may repeat, so Content-Length is judged on all its values.
  // An odd flat array goes through as is, for Node to refuse (ERR_INVALID_ARG_VALUE).
  if (!Array.isArray(headers[0]) && headers.length % 2 !== 0) return headers;
  const pairs: [unknown, unknown][] =
    headers.length > 0 && Array.isArray(headers[0]) ? (headers as [unknown, unknown][]) : Array.from({ length: headers.length >> 1 }, (_, i) => [headers[2 * i], headers[2 * i + 1]]);
  const isLength = (name: unknown) => typeof name === 'string' && name.toLowerCase() === 'content-length';
  const lengths = pairs.filter(([name]) => isLength(name)).flatMap(([, value]) => (Array.isArray(value) ? value : [value]));
  const length = lengths.length > 0 ? contentLength(lengths) : undefined;
  const kept: [unknown, unknown][] = [];
  let lengthKept = false;
  for (const [name, value] of pairs) {
    if (isLength(name)) {
      if (length !== undefined && !lengthKept) kept.push([name, length]);
      lengthKept = true;
    } else if (verdict(name, value, res.statusCode) !== 'drop') kept.push([name, value]);
  }
  return Array.isArray(headers[0]) ? kept : kept.flat();
}

// ---- refusing a response that cannot be written -----------------------------------------------

const kRefused = Symbol('nuwsgi.refusedResponse');
const kLog = Symbol('nuwsgi.log');

interface Guarded {
  [kRefused]?: string;
  [kLog]?: (line: string) => void;
}

/**
 * The app tried to send a header (or status) that cannot go on the wire: CR/LF in a value
 * (header injection), a bad name, an invalid status. Node throws there; nuwsgi answers 500
 * instead, whatever the app does next, and logs why. Throwing would turn a bad value in a
 * callback or an Express 4 async route into an uncaught exception, and so a worker restart and a
 * client left waiting; dropping just the header and sending the app's 200 could silently lose a
 * security header (Content-Security-Policy, Location). The app's later header calls still work
 * and its body writes are dropped, so it runs to its end undisturbed.
 */
function refuse(res: ServerResponse, what: string): void {
  const g = res as unknown as Guarded;
  if (g[kRefused]) return;
  g[kRefused] = what;
  const req = (res as unknown as { req?: IncomingMessage }).req;
  g[kLog]?.(`${printable(req?.method, 32)} ${printable(req?.url)}: the app's response cannot be sent (${what}) -- answering 500 instead`);
}

/** The head of the 500 that replaces a refused response: no body, so the app's writes are dropped. */
function storeRefusal(res: ServerResponse): void {
  for (const name of res.getHeaderNames()) res.removeHeader(name);
  res.statusCode = 500;
  res.statusMessage = STATUS_CODES[500]!;
  dropBody(res);
  storeHeader.call(res, 'HTTP/1.1 500 Internal Server Error\r\n', ['Content-Type', 'text/plain; charset=utf-8', 'Content-Length', '0', 'Connection', 'close']);
}

function describe(error: unknown, header?: unknown): string {
  const code = (error as { code?: string }).code;
  const name = typeof header === 'string' ? ` "${printable(header, 64)}"` : '';
  if (code === 'ERR_INVALID_CHAR') return `${code}: header${name} has CR, LF or another control character in its value (header injection?)`;
  if (code === 'ERR_INVALID_HTTP_TOKEN') return `${code}: invalid header name${name}`;
  return `${code}: ${(error as Error).message}`;
}

type Method = (this: ServerResponse, ...args: unknown[]) => unknown;
const protoMethod = (res: ServerResponse, name: string) => (Object.getPrototypeOf(res) as Record<string, Method>)[name];

/**
 * setHeader / appendHeader as own properties (Express swaps the prototype): the prototype's own
 * method, with a header that cannot be written turned into a refused response.
 */
function guardedHeader(name: 'setHeader' | 'appendHeader'): Method {
  return function (this: ServerResponse, ...args: unknown[]) {
    try {
      return protoMethod(this, name).apply(this, args);
    } catch (error) {
      if (!isUnwritable(error) || this.headersSent) throw error;
      refuse(this, describe(error, args[0]));
      return this;
    }
  };
}

const guardedSetHeader = guardedHeader('setHeader');
const guardedAppendHeader = guardedHeader('appendHeader');

/** writeHead: also covers a status message with CR/LF (also set as res.statusMessage) and a bad status code. */
function guardedWriteHead(this: ServerResponse, ...args: unknown[]): unknown {
  try {
    return protoMethod(this, 'writeHead').apply(this, args);
  } catch (error) {
    if (!isUnwritable(error) || this.headersSent) throw error;
    refuse(this, describe(error));
    // The app expects the head to be out now: send the 500 (a clean status message first, or
    // writeHead would throw again).
    this.statusMessage = STATUS_CODES[500]!;
    return protoMethod(this, 'writeHead').call(this, 500);
  }
}

/** `_storeHeader` as an own property: the one place every head passes through. */
function storeCleanHeader(this: ServerResponse, firstLine: string, headers: unknown): void {
  const g = this as unknown as Guarded;
  const status = this.statusCode;
  const upgrade = status === 101 && Boolean((this as unknown as { req?: IncomingMessage }).req?.headers.upgrade);
  if (!g[kRefused] && status >= 100 && status < 200 && !upgrade) {
    // nginx takes the first status line as final: an interim status would be the whole answer.
    refuse(this, `status ${status} is interim, not a final answer`);
  }
  if (g[kRefused]) return storeRefusal(this);
  if (upgrade) return storeHeader.call(this, firstLine, headers);
  try {
    storeHeader.call(this, firstLine, cleanHeaders(this, headers));
  } catch (error) {
    if (!isUnwritable(error)) throw error;
    refuse(this, describe(error));
    storeRefusal(this);
  }
  warnBigHead(this);
}

/** nginx's default uwsgi_buffer_size: a larger response head is a 502 "upstream sent too big header". */
const NGINX_HEAD_LIMIT = 4096;
let lastBigHeadWarning = 0;

function warnBigHead(res: ServerResponse): void {
  const head = storedHead(res);
  if (!head || head.length <= NGINX_HEAD_LIMIT) return;
  const now = Date.now();
  if (now - lastBigHeadWarning < 60_000) return;
  lastBigHeadWarning = now;
  const req = (res as unknown as { req?: IncomingMessage }).req;
  (res as unknown as Guarded)[kLog]?.(
    `${printable(req?.method, 32)} ${printable(req?.url)}: response head of ${head.length} bytes is above nginx's default uwsgi_buffer_size (4k): ` +
      `nginx answers 502 "upstream sent too big header" unless uwsgi_buffer_size is raised (logged at most once a minute)`,
  );
}

/** nginx's uwsgi module takes the first status line as final: interim 1xx responses must not be written. */
function noInterimResponse(...args: unknown[]): void {
  const callback = args.find((a) => typeof a === 'function') as (() => void) | undefined;
  if (callback) process.nextTick(callback);
}

/**
 * Node's own ServerResponse, made to write what uwsgi front ends accept (protocol.md §5,
 * node-ecosystem.md §2.3): `HTTP/1.1 NNN Reason`, headers, the raw body, end of body = close.
 * A single end(body) keeps its automatic Content-Length; anything else is close-delimited,
 * never chunked (nginx would pass the chunk framing through as body). Headers that would break
 * the front end are dropped or refused (see HOP_HEADERS and refuse()).
 */
export function buildResponse(req: IncomingMessage, socket: Socket, sendDate: boolean, log?: (line: string) => void): ServerResponse {
  const res = new ServerResponse(req);
  res.shouldKeepAlive = false;
  res.sendDate = sendDate;
  res.removeHeader('transfer-encoding');
  // Own properties, as Express swaps the prototype; plain assignments of functions made once.
  const r = res as unknown as Record<string, unknown>;
  replaceStoreHeader(res, storeCleanHeader);
  r.setHeader = guardedSetHeader;
  r.appendHeader = guardedAppendHeader;
  r.writeHead = guardedWriteHead;
  (res as unknown as Guarded)[kLog] = log;
  r.writeContinue = noInterimResponse;
  r.writeProcessing = noInterimResponse;
  r.writeEarlyHints = noInterimResponse;
  res.assignSocket(socket);
  // http.Server forwards socket 'drain' to the response; a hand-assigned socket must do it too,
  // or pipe(res) stalls at the first full buffer.
  socket.on('drain', () => {
    const flags = res as unknown as Record<symbol, boolean>;
    if (kNeedDrain && flags[kNeedDrain] && !res.writableFinished) {
      flags[kNeedDrain] = false;
      res.emit('drain');
    }
  });
  return res;
}
