import type { Socket } from 'node:net';

/**
 * End a connection without losing the response: send FIN after the queued bytes, then keep
 * reading (and discarding) until the front end closes its side. Closing with unread input would
 * make the kernel send RST, and nginx then logs "Connection reset by peer" and may cut the
 * response (node-ecosystem.md §2.6). The linger is bounded so a silent peer cannot hold the fd.
 */
export function closeConnection(socket: Socket, lingerMs: number): void {
  if (socket.destroyed) return;
  socket.removeAllListeners('timeout');
  socket.setTimeout(lingerMs, () => socket.destroy());
  socket.on('end', () => socket.destroy());
  socket.end();
  socket.resume();
}
