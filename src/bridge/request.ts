import { IncomingMessage } from 'node:http';
import { isIP, type Socket } from 'node:net';
import { MODIFIER_HTTP_STRIP_SCRIPT_NAME } from '../protocol/constants.js';
import type { PacketHeader } from '../protocol/reader.js';
import type { UwsgiVars } from '../protocol/vars.js';
import { isHttps, rawHeadersFromVars } from './headers.js';
import { addHeaderLines, setSocketAddresses } from '../node-internals.js';

const kPacket = Symbol('nuwsgi.packet');

/** The uwsgi packet a request came in (absent for --http-socket requests). */
export interface PacketInfo {
  header: PacketHeader;
  vars: UwsgiVars;
}

export function getPacket(req: IncomingMessage): PacketInfo | undefined {
  return (req as unknown as { [kPacket]?: PacketInfo })[kPacket];
}

/** The raw uwsgi vars of a request (DOCUMENT_ROOT, SCRIPT_NAME, custom uwsgi_param values, ...). */
export function getUwsgiVars(req: IncomingMessage): Record<string, string> | undefined {
  return getPacket(req)?.vars.toObject();
}

/** `HTTP/1.1` -> [1, 1]; anything unreadable counts as 1.1 so responses keep 1.1 semantics. */
function httpVersion(protocol: string | undefined): [number, number] {
  const m = protocol && /^HTTP\/(\d)(?:\.(\d))?$/.exec(protocol);
  return m ? [Number(m[1]), Number(m[2] ?? 0)] : [1, 1];
}

/**
 * req.url is the raw request target (REQUEST_URI): PATH_INFO is decoded and normalised by nginx,
 * so rebuilding the URL from it would double-decode %2F and friends. It is only the fallback for
 * front ends configured without REQUEST_URI.
 */
function requestUrl(header: PacketHeader, vars: UwsgiVars): string {
  const uri = vars.get('REQUEST_URI');
  if (uri) return uri;
  let path = vars.get('PATH_INFO') || '/';
  const scriptName = vars.get('SCRIPT_NAME');
  if (header.modifier1 === MODIFIER_HTTP_STRIP_SCRIPT_NAME && scriptName && path.startsWith(scriptName)) {
    path = path.slice(scriptName.length) || '/';
  }
  const query = vars.get('QUERY_STRING');
  return query ? `${path}?${query}` : path;
}

/**
 * The connection is a unix or TCP socket from the front end, so its own addresses are the front
 * end's. Apps read the client's from the socket (Express req.ip, Koa ctx.ip, Fastify request.ip,
 * Hono getConnInfo), so shadow the prototype getters on this socket with what the vars say.
 */
export function presentClientAddress(socket: Socket, vars: UwsgiVars): void {
  const address = vars.get('REMOTE_ADDR') || '127.0.0.1';
  // Two cache assignments, far cheaper per request than redefining six getters on the socket.
  setSocketAddresses(
    socket,
    { address, port: Number(vars.get('REMOTE_PORT')) || undefined, family: isIP(address) === 6 ? 'IPv6' : 'IPv4' },
    { address: vars.get('SERVER_ADDR'), port: Number(vars.get('SERVER_PORT')) || undefined },
  );
  // Express/Koa/Fastify/Hono derive the scheme from socket.encrypted.
  if (isHttps(vars)) (socket as unknown as { encrypted?: boolean }).encrypted = true;
}

/** Node's own IncomingMessage, filled from the packet, so Express's prototype swap keeps working. */
export function buildRequest(socket: Socket, header: PacketHeader, vars: UwsgiVars): IncomingMessage {
  const req = new IncomingMessage(socket);
  const [major, minor] = httpVersion(vars.get('SERVER_PROTOCOL'));
  // Must be set before the ServerResponse is made: a null version silently means HTTP/1.0 rules.
  req.httpVersionMajor = major;
  req.httpVersionMinor = minor;
  req.httpVersion = `${major}.${minor}`;
  req.method = vars.get('REQUEST_METHOD') || 'GET';
  req.url = requestUrl(header, vars);
  const raw = rawHeadersFromVars(vars);
  addHeaderLines(req, raw);
  (req as unknown as { [kPacket]: PacketInfo })[kPacket] = { header, vars };
  return req;
}
