import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { PONG } from '../protocol/constants.js';
import { ProtocolError } from '../protocol/errors.js';
import { PacketReader, type PacketHeader } from '../protocol/reader.js';
import type { UwsgiVars } from '../protocol/vars.js';
import { closeConnection } from './close.js';
import { rawResponse } from './raw-response.js';
import { buildRequest, presentClientAddress } from './request.js';
import { buildResponse } from './response.js';

export interface ConnectionOptions {
  bufferSize: number;
  maxVars: number;
  /** ms allowed between reads while the request (header block and body) arrives. */
  socketTimeoutMs: number;
  /** How long to keep reading after the response, waiting for the front end's close. */
  lingerMs: number;
  log(line: string): void;
  /** Runs the app; it owns the response from here. */
  dispatch(req: IncomingMessage, res: ServerResponse): void;
}

/**
 * Serve one uwsgi connection: read one packet, hand Node's own req/res to the app, close when
 * the response is done. An invalid packet closes this connection only, with one log line.
 */
export function serveUwsgiConnection(socket: Socket, options: ConnectionOptions): void {
  let req: IncomingMessage | undefined;
  let res: ServerResponse | undefined;
  let discardBody = false;

  const peer = () => (req ? `${req.method} ${req.url}` : 'uwsgi connection');

  const reader = new PacketReader(options, {
    onPing() {
      socket.write(PONG);
      closeConnection(socket, options.lingerMs);
    },
    onRequest(header: PacketHeader, vars: UwsgiVars, bodyLength: number) {
      if (!vars.get('REQUEST_METHOD')) {
        return refuse(new ProtocolError('uwsgi request without REQUEST_METHOD: does the nginx location `include uwsgi_params`?', 400));
      }
      // Only idle time before the whole request is in counts; a slow app is harakiri's business.
      if (bodyLength === 0) socket.setTimeout(0);
      presentClientAddress(socket, vars);
      req = buildRequest(socket, header, vars);
      res = buildResponse(req, socket, false);
      res.on('finish', onResponseFinish);
      if (bodyLength === 0) {
        req.complete = true;
        req.push(null);
      }
      options.dispatch(req, res);
    },
    onBody(chunk: Buffer) {
      if (discardBody) return;
      // IncomingMessage._read resumes the socket when the app wants more. Until then the wait is
      // on the app, not the front end: socket-timeout must not call that a stalled body.
      if (!req!.push(chunk)) {
        socket.pause();
        socket.setTimeout(0);
      }
    },
    onBodyEnd() {
      socket.setTimeout(0);
      if (discardBody) return closeConnection(socket, options.lingerMs);
      req!.complete = true;
      req!.push(null);
    },
    onError(error: ProtocolError) {
      refuse(error);
    },
  });

  function refuse(error: ProtocolError): void {
    reader.abort();
    options.log(`${error.describe()} -- closing connection`);
    if (error.status) socket.write(rawResponse(error.status));
    closeConnection(socket, options.lingerMs);
  }

  function onResponseFinish(): void {
    if (reader.finished) return closeConnection(socket, options.lingerMs);
    // The app answered without reading the whole body: read the rest and drop it, so the front
    // end never sees a reset while it is still sending (Node's http does the same: req._dump()).
    discardBody = true;
    req!.resume();
    socket.resume();
    socket.end();
  }

  socket.setTimeout(options.socketTimeoutMs, () => {
    if (!reader.headerComplete) {
      // uWSGI closes silently here; say why, since a slow or stuck front end is worth knowing about.
      options.log(`uwsgi header block not received within socket-timeout (${options.socketTimeoutMs / 1000}s) -- closing connection`);
    } else if (!discardBody) {
      options.log(`${peer()}: request body stalled for socket-timeout (${options.socketTimeoutMs / 1000}s) with ${reader.remainingBody} bytes missing -- closing connection`);
      req?.destroy();
    }
    socket.destroy();
  });
  socket.on('data', (chunk: Buffer) => reader.push(chunk));
  // The app asked for more body (or the rest is being discarded): the front end is on the clock again.
  socket.on('resume', () => {
    if (!reader.finished) socket.setTimeout(options.socketTimeoutMs);
  });
  socket.on('end', () => {
    if (!reader.headerComplete && !reader.finished && socket.bytesRead > 0) {
      // A connect-and-close with no bytes is a liveness probe; a partial packet is worth a line.
      options.log(`uwsgi connection closed by the peer after ${socket.bytesRead} bytes, before the header block was complete -- closing connection`);
    } else if (req && !reader.finished && !discardBody) {
      options.log(`${peer()}: the peer closed the connection with ${reader.remainingBody} body bytes missing -- request aborted`);
    }
    // The front end went away before the body was complete: the app sees an aborted request.
    if (req && !reader.finished) req.destroy();
    if (!res || res.writableFinished) socket.destroy();
  });
  socket.on('error', () => {
    // ECONNRESET/EPIPE from a front end that gave up; 'close' tells the response.
  });
}
