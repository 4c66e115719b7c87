import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseWholePacket, type WholePacket } from '../protocol/reader.js';
import { closeAfterResponse } from './close.js';
import type { ConnectionOptions } from './connection.js';
import { asNetSocket, type LiteSocket } from './lite-socket.js';
import { buildRequest, presentClientAddress } from './request.js';
import { buildResponse } from './response.js';
import { upgradeRequested } from './upgrade.js';

/**
 * The request in `data` when `data` is exactly one complete, valid, ordinary request packet;
 * otherwise undefined, and the connection belongs on the streaming path (connection.ts), which
 * answers pings, refusals, upgrades and partial packets, and logs what is wrong. The rules are
 * PacketReader's (parseWholePacket), so both paths judge a packet alike.
 */
export function readWholePacket(data: Buffer, options: ConnectionOptions): WholePacket | undefined {
  const packet = parseWholePacket(data, options);
  if (!packet || !packet.vars.get('REQUEST_METHOD') || upgradeRequested(packet.vars)) return undefined;
  return packet;
}

/**
 * Serve a request read whole by the native acceptor: Node's own IncomingMessage and
 * ServerResponse on a LiteSocket, the answer written through `transport`, and the connection
 * closed as soon as the response finishes. No timers and no read side: nothing is left to read.
 */
export function serveWholeRequest(socket: LiteSocket, request: WholePacket, options: ConnectionOptions): void {
  const { header, vars, body } = request;
  const netSocket = asNetSocket(socket);
  presentClientAddress(netSocket, vars);
  const req: IncomingMessage = buildRequest(netSocket, header, vars);
  const res = buildResponse(req, netSocket, false, options.log);
  // Everything is written ('finish' follows the last write callback): close.
  res.on('finish', () => closeAfterResponse(socket));
  socket.on('error', () => {
    // EPIPE/ECONNRESET from a front end that gave up; 'close' tells the response.
  });
  if (body.length > 0) req.push(body);
  req.complete = true;
  req.push(null);
  options.dispatch(req, res);
  // An answer still to come (an async handler): learn if the front end goes away meanwhile, as
  // a net.Socket's read side would tell. From the next turn of the loop on: an app that answers
  // within this one (after reading its body, a few ticks from now) needs no poll on the fd.
  if (!res.writableEnded) setImmediate(watchUnlessAnswered, socket, res);
}

function watchUnlessAnswered(socket: LiteSocket, res: ServerResponse): void {
  if (!res.writableEnded && !socket.destroyed) socket.watchPeer();
}
