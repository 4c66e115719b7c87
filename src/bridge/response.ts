import { OutgoingMessage, ServerResponse, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';

/** Node's private "a write returned false" flag, found by description as srvx does (#208). */
const kNeedDrain = Object.getOwnPropertySymbols(new OutgoingMessage()).find((s) => s.description === 'kNeedDrain');

type StoreHeader = (this: ServerResponse, firstLine: string, headers: unknown) => void;
const storeHeader = (ServerResponse.prototype as unknown as { _storeHeader: StoreHeader })._storeHeader;

const isTransferEncoding = (name: unknown) => typeof name === 'string' && name.toLowerCase() === 'transfer-encoding';

/** Drop Transfer-Encoding from any of the header shapes writeHead hands to _storeHeader. */
function withoutTransferEncoding(headers: unknown): unknown {
  if (headers === null || typeof headers !== 'object') return headers;
  if (!Array.isArray(headers)) {
    // Either Node's own header map (removeHeader has already cleared it, so no key matches and
    // it must be passed through as is) or the plain object of a writeHead() with no setHeader()
    // before it, which goes to _storeHeader untouched and still carries the app's TE.
    const keys = Object.keys(headers);
    if (!keys.some(isTransferEncoding)) return headers;
    const copy: Record<string, unknown> = {};
    for (const key of keys) if (!isTransferEncoding(key)) copy[key] = (headers as Record<string, unknown>)[key];
    return copy;
  }
  if (headers.length > 0 && Array.isArray(headers[0])) {
    return (headers as [string, unknown][]).filter(([name]) => !isTransferEncoding(name));
  }
  const flat: unknown[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    if (!isTransferEncoding(headers[i])) flat.push(headers[i], headers[i + 1]);
  }
  return flat;
}

/** `_storeHeader` as an own property: Express swaps the prototype, an override there would vanish. */
function storeHeaderWithoutChunking(this: ServerResponse, firstLine: string, headers: unknown): void {
  if (this.hasHeader('transfer-encoding')) this.removeHeader('transfer-encoding');
  storeHeader.call(this, firstLine, withoutTransferEncoding(headers));
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
 * never chunked (nginx would pass the chunk framing through as body).
 */
export function buildResponse(req: IncomingMessage, socket: Socket, sendDate: boolean): ServerResponse {
  const res = new ServerResponse(req);
  res.shouldKeepAlive = false;
  res.sendDate = sendDate;
  res.removeHeader('transfer-encoding');
  Object.defineProperty(res, '_storeHeader', { value: storeHeaderWithoutChunking, configurable: true, writable: true });
  const r = res as unknown as Record<string, unknown>;
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
