import { IncomingMessage, OutgoingMessage, ServerResponse } from 'node:http';
import net from 'node:net';

// Every Node internal nuwsgi relies on, in this one module: the bridge fills Node's own
// IncomingMessage/ServerResponse so apps keep working unchanged, and the master binds sockets the
// way cluster does. None of these is public API; each is checked at start-up (checkNodeInternals)
// so that a Node that changed one fails loudly, naming it, instead of misbehaving.

/** The Node lines these internals were checked on (the suite runs on each: scripts/test-node-versions.sh). */
export const CHECKED_NODE_VERSIONS = ['20.20.2', '22.23.5', '24.22.3', '26.12.1'];

const outgoingSymbol = (description: string) => Object.getOwnPropertySymbols(new OutgoingMessage()).find((s) => s.description === description);

/** OutgoingMessage's "a write returned false" flag, found by description as srvx does (#208). */
export const kNeedDrain = outgoingSymbol('kNeedDrain');
/** OutgoingMessage's header map (what setHeader fills). */
export const kOutHeaders = outgoingSymbol('kOutHeaders');

export type StoreHeader = (this: ServerResponse, firstLine: string, headers: unknown) => void;
/** ServerResponse's `_storeHeader(firstLine, headers)`: every head goes through it (writeHead, implicit heads, flushHeaders). */
export const storeHeader = (ServerResponse.prototype as unknown as { _storeHeader: StoreHeader })._storeHeader;

/** Put `store` in `_storeHeader`'s place on this one response (an own property: Express swaps the prototype). */
export function replaceStoreHeader(res: ServerResponse, store: StoreHeader): void {
  (res as unknown as { _storeHeader: StoreHeader })._storeHeader = store;
}

/** The head `_storeHeader` built, once it has run. */
export const storedHead = (res: ServerResponse): string | undefined => (res as unknown as { _header?: string | null })._header ?? undefined;

/** `_hasBody = false` makes Node drop body writes, as it does for HEAD and 204. */
export function dropBody(res: ServerResponse): void {
  (res as unknown as { _hasBody: boolean })._hasBody = false;
}

/** IncomingMessage's `_addHeaderLines`: sets rawHeaders and the count behind the lazy req.headers getter. */
export function addHeaderLines(req: IncomingMessage, raw: string[]): void {
  (req as unknown as { _addHeaderLines(h: string[], n: number): void })._addHeaderLines(raw, raw.length);
}

export interface AddressCache {
  address?: string;
  port?: number;
  family?: string;
}

/** net.Socket's address getters read `_peername`/`_sockname` before asking the kernel. */
export function setSocketAddresses(socket: net.Socket, peer: AddressCache, local: AddressCache): void {
  const s = socket as unknown as { _peername: AddressCache; _sockname: AddressCache };
  s._peername = peer;
  s._sockname = local;
}

/** The raw handle `net._createServerHandle` returns (a TCP or Pipe wrap). */
export interface RawServerHandle {
  fd: number;
  close(callback?: () => void): void;
}

type CreateServerHandle = (address: string | null, port: number, addressType: number, fd?: number, flags?: number) => RawServerHandle | number;
/** net's handle factory, the one cluster uses: it binds without listening, so the master owns the socket while workers accept. */
export const createServerHandle = (net as unknown as { _createServerHandle: CreateServerHandle })._createServerHandle;

/** Each internal and a check that it still behaves as relied on; a check returns false or throws when it does not. */
const CHECKS: [string, () => boolean][] = [
  ['http.OutgoingMessage kNeedDrain symbol', () => kNeedDrain !== undefined],
  ['http.OutgoingMessage kOutHeaders symbol', () => kOutHeaders !== undefined],
  ['http.ServerResponse.prototype._storeHeader', () => typeof storeHeader === 'function' && storeHeader.length === 2],
  [
    'http.ServerResponse _header and _hasBody',
    () => {
      const res = new ServerResponse(new IncomingMessage(new net.Socket()));
      const fields = res as unknown as Record<string, unknown>;
      return '_header' in fields && fields._hasBody === true;
    },
  ],
  [
    'http.IncomingMessage.prototype._addHeaderLines',
    () => {
      const req = new IncomingMessage(new net.Socket());
      addHeaderLines(req, ['X-Check', 'yes']);
      return req.headers['x-check'] === 'yes' && req.rawHeaders.length === 2;
    },
  ],
  [
    'net.Socket _peername/_sockname address caches',
    () => {
      const socket = new net.Socket();
      setSocketAddresses(socket, { address: '192.0.2.1', port: 1, family: 'IPv4' }, { address: '192.0.2.2', port: 2 });
      return socket.remoteAddress === '192.0.2.1' && socket.remotePort === 1 && socket.remoteFamily === 'IPv4';
    },
  ],
  ['net._createServerHandle', () => typeof createServerHandle === 'function'],
];

/** The internals this Node no longer provides as relied on (empty when all is well). */
export function checkNodeInternals(): string[] {
  return CHECKS.filter(([, check]) => {
    try {
      return !check();
    } catch {
      return true;
    }
  }).map(([name]) => name);
}

/** Start-up self-check: throws, naming each changed internal and this Node, rather than serve wrongly. */
export function assertNodeInternals(): void {
  const broken = checkNodeInternals();
  if (broken.length === 0) return;
  throw new Error(
    `nuwsgi cannot run on Node ${process.version}: the Node internals ${broken.join(', ')} changed ` +
      `(checked on Node ${CHECKED_NODE_VERSIONS.join(', ')}); run nuwsgi on one of those lines`,
  );
}
