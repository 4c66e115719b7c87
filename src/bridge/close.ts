import type { Socket } from 'node:net';

/**
 * The longest a connection may spend discarding input after its answer (a request body the app
 * did not read, a refused upload), however steadily the peer keeps sending: a front end sends a
 * buffered body in well under this, a hostile peer trickling bytes gets cut here.
 */
export const DISCARD_CAP_MS = 30_000;

/**
 * End a connection without losing the response: send FIN after the queued bytes, then keep
 * reading (and discarding) until the front end closes its side. Closing with unread input would
 * make the kernel send RST, and nginx then logs "Connection reset by peer" and may cut the
 * response (node-ecosystem.md §2.6). The linger is bounded twice: `lingerMs` of silence, and
 * `capMs` in all, so neither a silent peer nor a trickling one can hold the fd.
 */
export function closeConnection(socket: Socket, lingerMs: number, capMs = Math.max(lingerMs, DISCARD_CAP_MS)): void {
  if (socket.destroyed) return;
  socket.removeAllListeners('timeout');
  socket.setTimeout(lingerMs, () => socket.destroy());
  capLifetime(socket, capMs);
  socket.on('end', () => socket.destroy());
  socket.end();
  socket.resume();
}

/**
 * Close a connection whose packet was read whole once its response has finished: nothing is left
 * unread to turn the close into a reset, so no FIN-and-linger. On the next tick, not inside the
 * write callback that emitted 'finish': a stream destroyed there fails its finish callbacks with
 * freshly made errors (Writable's errorBuffer), a stack trace per request.
 */
export function closeAfterResponse(socket: { destroy(): void }): void {
  process.nextTick(destroy, socket);
}

function destroy(socket: { destroy(): void }): void {
  socket.destroy();
}

const kCap = Symbol('nuwsgi.discardCap');

/** Destroy `socket` after `ms` unless it closes first (one cap per socket: the first one set wins). */
export function capLifetime(socket: Socket, ms: number): void {
  const s = socket as Socket & { [kCap]?: NodeJS.Timeout };
  if (s[kCap] || socket.destroyed) return;
  const timer = setTimeout(() => socket.destroy(), ms);
  s[kCap] = timer;
  socket.once('close', () => clearTimeout(timer));
}
