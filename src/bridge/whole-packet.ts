import type { IncomingMessage } from 'node:http';
import { HEADER_SIZE } from '../protocol/constants.js';
import { PacketReader, type PacketHeader } from '../protocol/reader.js';
import type { UwsgiVars } from '../protocol/vars.js';
import type { ConnectionOptions } from './connection.js';
import type { LiteSocket } from './lite-socket.js';
import { buildRequest, presentClientAddress } from './request.js';
import { buildResponse } from './response.js';
import { upgradeRequested } from './upgrade.js';

/** A request read whole in one buffer: header, vars, and the complete body. */
export interface WholeRequest {
  header: PacketHeader;
  vars: UwsgiVars;
  body: Buffer[];
}

/**
 * The request in `data` when `data` is exactly one complete, valid, ordinary request packet;
 * otherwise undefined, and the connection belongs on the streaming path (connection.ts), which
 * answers pings, refusals, upgrades and partial packets, and logs what is wrong. The reader is the
 * same, so both paths judge a packet alike.
 */
export function readWholePacket(data: Buffer, options: ConnectionOptions): WholeRequest | undefined {
  if (data.length < HEADER_SIZE) return undefined;
  let found: WholeRequest | undefined;
  let complete = false;
  let failed = false;
  const reader = new PacketReader(options, {
    onPing() {
      failed = true;
    },
    onRequest(header, vars, bodyLength) {
      // Exactly one packet: bytes after it would be left unread, and close() would reset.
      if (HEADER_SIZE + header.datasize + bodyLength !== data.length) failed = true;
      else found = { header, vars, body: [] };
    },
    onBody(chunk) {
      found?.body.push(chunk);
    },
    onBodyEnd() {
      complete = true;
    },
    onError() {
      failed = true;
    },
  });
  reader.push(data);
  if (failed || !complete || !found) return undefined;
  const { vars } = found as WholeRequest;
  if (!vars.get('REQUEST_METHOD') || upgradeRequested(vars)) return undefined;
  return found;
}

/**
 * Serve a request read whole by the native acceptor: Node's own IncomingMessage and
 * ServerResponse on a LiteSocket, the answer written through `transport`, and the connection
 * closed as soon as the response finishes. No timers and no read side: nothing is left to read.
 */
export function serveWholeRequest(socket: LiteSocket, request: WholeRequest, options: ConnectionOptions): void {
  const { header, vars, body } = request;
  presentClientAddress(socket as never, vars);
  const req: IncomingMessage = buildRequest(socket as never, header, vars);
  const res = buildResponse(req, socket as never, false, options.log);
  // Everything is written ('finish' follows the last write callback): close. On the next tick,
  // not inside the write callback: a stream destroyed there fails its finish callbacks with
  // freshly made errors (Writable's errorBuffer), a stack trace per request.
  res.on('finish', () => process.nextTick(destroySocket, socket));
  socket.on('error', () => {
    // EPIPE/ECONNRESET from a front end that gave up; 'close' tells the response.
  });
  for (const chunk of body) req.push(chunk);
  req.complete = true;
  req.push(null);
  options.dispatch(req, res);
  // An answer still to come (an async handler): learn if the front end goes away meanwhile, as
  // a net.Socket's read side would tell.
  if (!res.writableEnded) socket.watchPeer();
}

function destroySocket(socket: LiteSocket): void {
  socket.destroy();
}
