import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The optional native acceptor (native/src/acceptor.c, built by `npm install` through
 * scripts/build-native.mjs): accept, the first read, writev and close in C, so a uwsgi request
 * read whole costs JavaScript only for the app's own req/res. Everything here is synchronous and
 * on the main thread; callbacks come from libuv polls on Node's own loop.
 */
export interface AcceptorHandlers {
  /**
   * A connection's first bytes (empty: none came in time; release it to a net.Socket); or, when
   * they are a header block alone and a pool is set, their `length` at `offset` in the pool.
   */
  onConnection(id: number, data: Buffer | number, offset?: number): void;
  /** The queue a partial write left is flushed. */
  onWritable(id: number): void;
  /** A watched connection's peer closed (errno 0) or failed; C has closed and forgotten it. */
  onPeerClose(id: number, errno: number): void;
  /** An end() that had to wait for the queue has closed the connection. */
  onClosed(id: number): void;
}

export interface AcceptorOptions {
  /** How long a connection may stay without a first byte before it goes to JavaScript. */
  pendingMs?: number;
  /** Most connections accepted per wakeup. */
  maxBatch?: number;
  /** Bytes the first read may take (the whole packet, for the fast path). */
  readSize?: number;
  /**
   * Wake one waiting worker per connection (EPOLLEXCLUSIVE on the listening fd) instead of every
   * worker polling it. Default true.
   */
  exclusive?: boolean;
  /** listen(2) the fd with this backlog first (the master binds, each worker listens). */
  backlog?: number;
}

export type Acceptor = object & { readonly __acceptor: unique symbol };

export interface NativeBinding {
  createAcceptor(listenFd: number, handlers: AcceptorHandlers, options?: AcceptorOptions): Acceptor;
  /** writev; the bytes still queued (0: all with the kernel) or -errno. */
  write(acceptor: Acceptor, id: number, chunks: Uint8Array | Uint8Array[]): number;
  /** Close after the queue drains; true when closed now. */
  end(acceptor: Acceptor, id: number): boolean;
  /** Close now, dropping what is queued; false for an unknown id. */
  destroy(acceptor: Acceptor, id: number): boolean;
  /** Report the peer closing through onPeerClose; false for an unknown or ending id. */
  watch(acceptor: Acceptor, id: number): boolean;
  /** Stop managing the connection without closing it: its fd, for a net.Socket. */
  release(acceptor: Acceptor, id: number): number;
  /** Stop accepting (the listening fd stays open: the master owns it). */
  close(acceptor: Acceptor): void;
  /**
   * Copy first reads that are a header block alone into `pool`, from its start on (replacing the
   * last pool), and report them to onConnection as (id, length, offset).
   */
  setPool(acceptor: Acceptor, pool: Buffer): void;
  /**
   * Connections accepted, open now (waiting for data or held by JavaScript), dropped before
   * sending anything, and waited for with a poll (no data yet when accepted).
   */
  stats(acceptor: Acceptor): { accepted: number; open: number; dropped: number; waited: number };
}

/** Where the build puts the addon, seen from this file compiled (dist/src/native/). */
export const ADDON_PATH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..', 'native/build/Release/nuwsgi_native.node');

let loaded: { binding?: NativeBinding; error?: string } | undefined;

/** The addon, or why it cannot be used (not built, or built for another Node). */
export function loadNative(): { binding?: NativeBinding; error?: string } {
  if (loaded) return loaded;
  try {
    loaded = { binding: createRequire(import.meta.url)(ADDON_PATH) as NativeBinding };
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    loaded = { error: e.code === 'MODULE_NOT_FOUND' ? `${ADDON_PATH} is not built (npm run build:native)` : String(e.message ?? e).split('\n')[0] };
  }
  return loaded;
}
