import type { IncomingMessage, ServerResponse } from 'node:http';
import { getPacket } from '../bridge/request.js';
import type { Outcome } from './counters.js';
import type { RequestRecord } from './record.js';
import { storedHead } from '../node-internals.js';

/** Response head as Node wrote it (a private field, stable since Node 0.x). */
const headOf = (res: ServerResponse): string => storedHead(res) ?? '';

const kRaw = Symbol('nuwsgi.rawResponse');

/**
 * The server answered this request itself, writing `raw` (a whole response) to the socket past
 * `res` (harakiri's 504): the record must show that answer, not the 200 `res` still holds.
 */
export function noteRawResponse(res: ServerResponse, raw: Buffer): void {
  (res as unknown as Record<symbol, Buffer>)[kRaw] = raw;
}

/** Status and head of a raw response (head: status line, headers, blank line). */
function rawAnswer(res: ServerResponse): { status: number; head: string } | undefined {
  const raw = (res as unknown as Record<symbol, Buffer | undefined>)[kRaw];
  if (!raw) return undefined;
  const end = raw.indexOf('\r\n\r\n');
  const head = raw.subarray(0, end === -1 ? raw.length : end + 4).toString('latin1');
  return { status: Number(/^HTTP\/\d\.\d (\d{3})/.exec(head)?.[1] ?? res.statusCode), head };
}

/** The server's own answer (harakiri's 504) when Node wrote no head, else undefined: Node's head rules. */
function serverAnswer(res: ServerResponse): { status: number; head: string } | undefined {
  return headOf(res) === '' ? rawAnswer(res) : undefined;
}

function headerLines(head: string): number {
  let n = 0;
  for (let i = head.indexOf('\r\n'); i !== -1; i = head.indexOf('\r\n', i + 2)) n++;
  // The status line and the blank line that ends the head are not headers.
  return Math.max(0, n - 2);
}

/** %(var.NAME) on the HTTP path, where there is no var block: the CGI names a front end would send. */
function httpVar(req: IncomingMessage, name: string): string | undefined {
  const headers = req.headers;
  const header = (h: string) => {
    const value = headers[h];
    return Array.isArray(value) ? value.join(', ') : value;
  };
  if (name.startsWith('HTTP_')) return header(name.slice(5).toLowerCase().replace(/_/g, '-'));
  switch (name) {
    case 'REQUEST_METHOD':
      return req.method;
    case 'REQUEST_URI':
      return req.url;
    case 'SERVER_PROTOCOL':
      return `HTTP/${req.httpVersion}`;
    case 'REMOTE_ADDR':
      return req.socket?.remoteAddress;
    case 'CONTENT_TYPE':
      return header('content-type');
    case 'CONTENT_LENGTH':
      return header('content-length');
    default:
      return undefined;
  }
}

/**
 * What the counters need of one request, without the record: all the worker builds when no
 * request can be logged, and the part of startRecord that the counters share.
 */
export function startOutcome(req: IncomingMessage, res: ServerResponse): () => Outcome {
  const startHr = performance.now();
  const socket = req.socket;
  const writtenBefore = socket?.bytesWritten ?? 0;
  return () => {
    const raw = serverAnswer(res);
    return {
      status: raw ? raw.status : res.statusCode,
      durationUs: Math.round((performance.now() - startHr) * 1000),
      tx: (socket?.bytesWritten ?? 0) - writtenBefore,
      ioError: !raw && !res.writableFinished,
    };
  };
}

/**
 * Start watching one request; the returned function, called when the response closes, gives
 * its record. Cheap on purpose: it runs for every request when request logging is on.
 */
export function startRecord(req: IncomingMessage, res: ServerResponse, wid: number): (counts: { requestCount: number; globalCount: number }) => RequestRecord {
  const startMs = Date.now();
  const outcome = startOutcome(req, res);
  return ({ requestCount, globalCount }) => {
    const { status, durationUs, tx: written, ioError } = outcome();
    const packet = getPacket(req);
    const socket = req.socket;
    const raw = serverAnswer(res);
    const head = raw ? raw.head : headOf(res);
    const hsize = Buffer.byteLength(head, 'latin1');
    const headers = req.headers;
    const rawHeaderCount = req.rawHeaders.length / 2;
    return {
      startMs,
      durationUs,
      method: req.method ?? '',
      uri: req.url ?? '',
      proto: packet?.vars.get('SERVER_PROTOCOL') ?? `HTTP/${req.httpVersion}`,
      status,
      addr: socket?.remoteAddress ?? '',
      user: packet?.vars.get('REMOTE_USER') ?? '',
      host: packet ? (packet.vars.get('HTTP_HOST') ?? packet.vars.get('SERVER_NAME') ?? '') : (headers.host ?? ''),
      uagent: headers['user-agent'] ?? '',
      referer: headers.referer ?? '',
      cl: Number(headers['content-length']) || 0,
      // uWSGI counts keys and values separately, and the var block without its 4-byte header.
      vars: packet ? packet.vars.size * 2 : rawHeaderCount * 2,
      pktsize: packet ? packet.header.datasize : req.rawHeaders.reduce((n, s) => n + s.length + 2, 0),
      modifier1: packet?.header.modifier1 ?? 0,
      modifier2: packet?.header.modifier2 ?? 0,
      rsize: Math.max(0, written - hsize),
      hsize,
      headers: headerLines(head),
      pid: process.pid,
      wid,
      requestCount,
      globalCount,
      ioError,
      var: packet ? (name: string) => packet.vars.get(name) : (name: string) => httpVar(req, name),
      rss: 0,
      vsz: 0,
    };
  };
}
