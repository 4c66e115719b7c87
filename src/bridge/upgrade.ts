import type { Server } from 'node:http';
import { Socket } from 'node:net';
import type { PacketHeader } from '../protocol/reader.js';
import type { UwsgiVars } from '../protocol/vars.js';
import { closeConnection } from './close.js';
import { rawResponse } from './raw-response.js';
import { buildRequest, presentClientAddress } from './request.js';

/**
 * WebSocket and other `Upgrade` requests (node-ecosystem.md §2.7). nginx's uwsgi module passes
 * `Upgrade`/`Connection` on as HTTP_UPGRADE/HTTP_CONNECTION (with plain `include uwsgi_params`),
 * and when the backend answers `101 Switching Protocols` it turns the connection into a tunnel
 * both ways. So the uwsgi connection itself becomes the WebSocket: it is handed to the app's
 * 'upgrade' listeners with `(req, socket, head)` exactly as http.Server does, with no
 * ServerResponse, and `ws`'s `handleUpgrade`, socket.io, `server.on('upgrade')` all work.
 */

/** How long a refused front end may take to read the 501 and close. */
const REFUSED_LINGER_MS = 5000;

/** The app's own server (captured listen() or an exported http.Server): its 'upgrade' listeners. */
let upgradeTarget: Server | undefined;

/** Called by the app loader once it knows which http.Server is the app. */
export function setUpgradeTarget(server: Server | undefined): void {
  upgradeTarget = server;
}

/**
 * The HTTP path (--http-socket) runs its own http.Server in front of the app's: pass it the
 * 'upgrade' events exactly while the app's server has 'upgrade' listeners, so Node's own rule
 * holds there too (an Upgrade request meets the app's listeners, or is an ordinary request when
 * it has none) and `ws`, socket.io and `server.on('upgrade')` work behind proxy_pass.
 */
export function forwardUpgrades(front: Server): void {
  const target = upgradeTarget;
  if (!target || target === front) return;
  const forward = (req: unknown, socket: unknown, head: unknown) => target.emit('upgrade', req, socket, head);
  const sync = () => {
    const forwarding = front.listeners('upgrade').includes(forward);
    if (target.listenerCount('upgrade') > 0) {
      if (!forwarding) front.on('upgrade', forward);
    } else if (forwarding) front.off('upgrade', forward);
  };
  sync();
  // 'newListener' comes just before the listener is added: look once it is.
  target.on('newListener', (event) => event === 'upgrade' && queueMicrotask(sync));
  target.on('removeListener', (event) => event === 'upgrade' && sync());
}

/** Node's own listeners on a fresh socket (net's 'end' handler); everything else is the bridge's. */
const nodeListeners = (() => {
  const probe = new Socket();
  const own = new Set<unknown>(probe.listeners('end'));
  probe.destroy();
  return own;
})();

/** As Node's parser decides: an Upgrade header, and an `upgrade` token in Connection. */
export function upgradeRequested(vars: UwsgiVars): boolean {
  const upgrade = vars.get('HTTP_UPGRADE');
  if (!upgrade) return false;
  return vars.getAll('HTTP_CONNECTION').some((value) => value.split(',').some((token) => token.trim().toLowerCase() === 'upgrade'));
}

/**
 * Front ends known not to tunnel a 101: they would send the client the switch and then never
 * relay a frame, so the client hangs. Apache's mod_proxy_uwsgi reads the response until the
 * backend closes and never forwards client bytes after the request (protocol.md §4, §5.5); it
 * is recognised by the CGI vars only Apache sends. uWSGI's HTTP router relays both ways only
 * with `--http-websockets`, which it announces by no var, so it is not refused here: without
 * that option its client gets the 101 and a dead connection (README, Deployment).
 */
function nonTunnellingFrontEnd(vars: UwsgiVars): string | undefined {
  if (vars.get('SCRIPT_FILENAME')?.startsWith('proxy:uwsgi://') || /^Apache\b/.test(vars.get('SERVER_SOFTWARE') ?? '')) {
    return "Apache's mod_proxy_uwsgi";
  }
  return undefined;
}

/**
 * Called by the connection for every request with an empty body. Returns false when the request
 * is an ordinary one (no Upgrade, or no 'upgrade' listener: http.Server then serves it as a
 * normal request too); otherwise the connection now belongs to the app's 'upgrade' listeners
 * (or has been refused), and the caller must stop reading it as a uwsgi packet.
 */
export function handOverUpgrade(socket: Socket, header: PacketHeader, vars: UwsgiVars, log: (line: string) => void): boolean {
  if (!upgradeRequested(vars)) return false;
  const server = upgradeTarget;
  if (!server || server.listenerCount('upgrade') === 0) return false;
  const refusedBy = nonTunnellingFrontEnd(vars);
  if (refusedBy) {
    log(
      `${vars.get('REQUEST_METHOD')} ${vars.get('REQUEST_URI') ?? vars.get('PATH_INFO')}: Upgrade to "${vars.get('HTTP_UPGRADE')}" refused: ` +
        `${refusedBy} cannot carry an upgraded connection -- use nginx (uwsgi_pass) for WebSocket routes`,
    );
    socket.write(rawResponse(501, `Upgrade is not supported through ${refusedBy}: it cannot relay an upgraded connection. Serve this route through nginx.`));
    closeConnection(socket, REFUSED_LINGER_MS);
    return true;
  }
  // Take the socket back from the uwsgi connection, as http.Server detaches its parser: no more
  // packet reading, no socket-timeout (a WebSocket may be idle for hours), no close-on-end.
  socket.setTimeout(0);
  for (const event of ['data', 'resume', 'timeout'] as const) socket.removeAllListeners(event);
  for (const listener of socket.listeners('end')) {
    if (!nodeListeners.has(listener)) socket.removeListener('end', listener as (...args: unknown[]) => void);
  }
  presentClientAddress(socket, vars);
  const req = buildRequest(socket, header, vars);
  (req as unknown as { upgrade: boolean }).upgrade = true;
  req.complete = true;
  req.push(null);
  // Not flowing, as http.Server leaves it: the listener's own 'data' handler starts the flow.
  (socket as unknown as { readableFlowing: boolean | null }).readableFlowing = null;
  // head: bytes after the request. A front end sends none before the 101 has gone back.
  server.emit('upgrade', req, socket, Buffer.alloc(0));
  return true;
}
