import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { PONG } from '../protocol/constants.js';
import { ProtocolError } from '../protocol/errors.js';
import { printable } from '../protocol/printable.js';
import { PacketReader, type PacketHeader } from '../protocol/reader.js';
import type { UwsgiVars } from '../protocol/vars.js';
import { capLifetime, closeAfterResponse, closeConnection, DISCARD_CAP_MS } from './close.js';
import { rawResponse } from './raw-response.js';
import { buildRequest, presentClientAddress } from './request.js';
import { buildResponse } from './response.js';
import { handOverUpgrade } from './upgrade.js';

export interface ConnectionOptions {
  bufferSize: number;
  maxVars: number;
  /** Largest CONTENT_LENGTH accepted (--limit-post); 0 or absent: no limit. Larger gets 413. */
  limitPost?: number;
  /**
   * Most uwsgi connections this worker holds open at once (--max-connections); 0 or absent: no
   * limit. Counted per options object, which a worker shares between its uwsgi sockets.
   */
  maxConnections?: number;
  /**
   * Connections the worker holds that are not counted yet: the native acceptor's, waiting for
   * their first bytes. --max-connections counts them too.
   */
  waiting?: (() => number)[];
  /**
   * ms allowed for the whole header block (counted from the accept, however the bytes trickle
   * in), then between reads while the body arrives.
   */
  socketTimeoutMs: number;
  /** How long to keep reading after the response, waiting for the front end's close. */
  lingerMs: number;
  /**
   * The most a connection may spend discarding input after its answer, however steadily the
   * peer sends (default DISCARD_CAP_MS).
   */
  discardCapMs?: number;
  log(line: string): void;
  /** Runs the app; it owns the response from here. */
  dispatch(req: IncomingMessage, res: ServerResponse): void;
}

/**
 * Serve one uwsgi connection: read one packet, hand Node's own req/res to the app, close when
 * the response is done. An invalid packet closes this connection only, with one log line.
 */
export function serveUwsgiConnection(socket: Socket, options: ConnectionOptions, head?: Buffer): void {
  if (!admit(socket, options)) return;
  // Bytes already read from this connection elsewhere (the native acceptor's first read): they
  // come first, before the 'data' listener below starts the flow.
  const headLength = head?.length ?? 0;
  if (head && headLength > 0) socket.unshift(head);
  const received = () => headLength + socket.bytesRead;
  let req: IncomingMessage | undefined;
  let res: ServerResponse | undefined;
  let discardBody = false;

  const peer = () => (req ? `${printable(req.method, 32)} ${printable(req.url)}` : 'uwsgi connection');
  const discardCap = Math.max(options.lingerMs, options.discardCapMs ?? DISCARD_CAP_MS);

  const reader = new PacketReader(options, {
    onPing() {
      clearTimeout(headerDeadline);
      socket.write(PONG);
      closeConnection(socket, options.lingerMs);
    },
    onRequest(header: PacketHeader, vars: UwsgiVars, bodyLength: number) {
      clearTimeout(headerDeadline);
      if (!vars.get('REQUEST_METHOD')) {
        return refuse(new ProtocolError('uwsgi request without REQUEST_METHOD: does the nginx location `include uwsgi_params`?', 400));
      }
      // Upgrade (WebSocket): the connection goes to the app's 'upgrade' listeners, as in http.Server.
      if (bodyLength === 0 && handOverUpgrade(socket, header, vars, options.log)) return reader.abort();
      // Only idle time before the whole request is in counts; a slow app is harakiri's business.
      // From here on socket-timeout is per read of the body (a front end may stream it).
      socket.setTimeout(bodyLength === 0 ? 0 : options.socketTimeoutMs);
      presentClientAddress(socket, vars);
      req = buildRequest(socket, header, vars);
      res = buildResponse(req, socket, false, options.log);
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
      if (discardBody) return closeConnection(socket, options.lingerMs, discardCap);
      req!.complete = true;
      req!.push(null);
    },
    onError(error: ProtocolError) {
      refuse(error);
    },
  });

  function refuse(error: ProtocolError): void {
    clearTimeout(headerDeadline);
    reader.abort();
    options.log(`${error.describe()} -- closing connection`);
    if (error.status) socket.write(rawResponse(error.status));
    closeConnection(socket, options.lingerMs, discardCap);
  }

  function onResponseFinish(): void {
    // The whole packet is read and the answer is with the kernel ('finish' follows the write
    // callback): close now, as uWSGI does. A FIN-and-linger here costs a shutdown, a poll
    // change, a read and a timer per request.
    if (reader.finished) return closeAfterResponse(socket);
    // The app answered without reading the whole body: read the rest and drop it, so the front
    // end never sees a reset while it is still sending (Node's http does the same: req._dump()).
    discardBody = true;
    req!.resume();
    socket.resume();
    socket.end();
    // Bounded by socket-timeout between reads, and by this in all: a peer trickling a huge
    // declared body cannot keep a finished connection (and its slot) forever.
    capLifetime(socket, discardCap);
  }

  // The whole header block must arrive within socket-timeout of the accept: a front end sends it
  // in one write, so only a stuck or hostile peer trickles it (slowloris), and an idle timeout
  // reset by every byte would let it hold the connection for ever.
  const headerDeadline = setTimeout(() => {
    if (reader.headerComplete || reader.finished || socket.destroyed) return;
    // uWSGI closes silently here; say why, since a slow or stuck front end is worth knowing about.
    options.log(
      `uwsgi header block not received within socket-timeout (${options.socketTimeoutMs / 1000}s)` +
        (received() > 0 ? ` (${received()} bytes received)` : '') +
        ' -- closing connection',
    );
    socket.destroy();
  }, options.socketTimeoutMs);
  socket.once('close', () => clearTimeout(headerDeadline));

  // Armed once the header block is in (onRequest), and only while body bytes are awaited.
  socket.on('timeout', () => {
    if (!discardBody) {
      options.log(`${peer()}: request body stalled for socket-timeout (${options.socketTimeoutMs / 1000}s) with ${reader.remainingBody} bytes missing -- closing connection`);
      req?.destroy(aborted());
    }
    socket.destroy();
  });
  socket.on('data', (chunk: Buffer) => {
    try {
      reader.push(chunk);
    } catch (error) {
      // The reader itself never throws; this is a bug in the bridge or an event handler, and it
      // must cost this connection, not the worker and every request it is serving.
      options.log(`${peer()}: internal error while reading the uwsgi packet: ${(error as Error)?.stack ?? error} -- closing connection`);
      if (req && !reader.finished) req.destroy(aborted());
      socket.destroy();
    }
  });
  // The app asked for more body (or the rest is being discarded): the front end is on the clock again.
  // A 'resume' scheduled before a pause still fires after it (Readable's resume_ runs a tick
  // later): only a socket that really flows again is waiting on the front end.
  socket.on('resume', () => {
    if (reader.headerComplete && !reader.finished && !socket.isPaused()) socket.setTimeout(options.socketTimeoutMs);
  });
  socket.on('end', () => {
    if (!reader.headerComplete && !reader.finished && received() > 0) {
      // A connect-and-close with no bytes is a liveness probe; a partial packet is worth a line.
      options.log(`uwsgi connection closed by the peer after ${received()} bytes, before the header block was complete -- closing connection`);
    } else if (req && !reader.finished && !discardBody) {
      options.log(`${peer()}: the peer closed the connection with ${reader.remainingBody} body bytes missing -- request aborted`);
    }
    // The front end went away before the body was complete: the app sees an aborted request,
    // as http.Server shows it ('aborted', then 'error' ECONNRESET if listened for, then 'close').
    if (req && !reader.finished) req.destroy(aborted());
    if (!res || res.writableFinished) socket.destroy();
  });
  socket.on('error', () => {
    // ECONNRESET/EPIPE from a front end that gave up; 'close' tells the response.
  });
  socket.on('close', () => {
    // A front end that gives up with unread data in its socket resets it: no 'end' comes, only
    // this. The app must still see its request aborted.
    if (req && !reader.finished && !req.destroyed && !discardBody) {
      options.log(`${peer()}: the connection was reset with ${reader.remainingBody} body bytes missing -- request aborted`);
      req.destroy(aborted());
    }
  });
}

/** The error http.Server destroys an incomplete request with when its client goes away. */
function aborted(): Error {
  return Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
}

/** Per-worker connection count behind --max-connections, and its log state. */
interface Gate {
  open: number;
  /** Connections answered 503 since the limit was last reached. */
  refused: number;
  full: boolean;
}

const gates = new WeakMap<ConnectionOptions, Gate>();

/** How long a refused connection may take to read its 503 and close. */
const REFUSED_LINGER_MS = 1000;

/**
 * --max-connections: count this connection, or refuse it. Node cannot stop accepting on a
 * listening fd without closing it (libuv accepts in a loop and has no pause for a listener), so
 * the worker keeps accepting but answers 503 at once and closes: the front end gets a readable
 * answer instead of a reset, and the connections already held are not starved. One line when the
 * limit is reached and one when the worker is back under it (with the count refused), not one
 * per connection; the way back is at 90% of the limit, so a worker sitting at the limit does
 * not log a pair of lines per connection.
 */
export function admit(socket: Socket, options: ConnectionOptions): boolean {
  const max = options.maxConnections ?? 0;
  if (!(max > 0)) return true;
  let gate = gates.get(options);
  if (!gate) gates.set(options, (gate = { open: 0, refused: 0, full: false }));
  const g = gate;
  let waiting = 0;
  for (const count of options.waiting ?? []) waiting += count();
  if (g.open + waiting >= max) {
    g.refused++;
    if (!g.full) {
      g.full = true;
      options.log(`*** worker pid ${process.pid}: max-connections (${max}) reached: new uwsgi connections are answered 503 until some close (see --max-connections) ***`);
    }
    socket.on('error', () => {});
    socket.write(rawResponse(503, `this worker holds max-connections (${max}) connections`));
    closeConnection(socket, REFUSED_LINGER_MS, REFUSED_LINGER_MS * 5);
    return false;
  }
  g.open++;
  socket.once('close', () => {
    g.open--;
    if (g.full && g.open <= Math.floor(max * 0.9)) {
      g.full = false;
      options.log(`worker pid ${process.pid}: back under max-connections (${g.open} of ${max} open); ${g.refused} connections were answered 503 meanwhile`);
      g.refused = 0;
    }
  });
  return true;
}
