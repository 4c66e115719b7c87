import type { Socket } from 'node:net';
import os from 'node:os';
import { Duplex } from 'node:stream';
import util from 'node:util';

/**
 * Where a LiteSocket's bytes go: one accepted connection owned by the native acceptor (see
 * src/native). Every call is synchronous and cheap; completion of queued bytes comes back
 * through LiteSocket.transportFlushed().
 */
export interface Transport {
  /** writev; returns the bytes still queued (0: all with the kernel now) or -errno. */
  write(chunks: Buffer[]): number;
  /** Close once the queue is flushed; true when that happened now (else transportClosed() follows). */
  end(): boolean;
  /** Close now, dropping anything queued. */
  destroy(): void;
  /** Report the peer closing (or the socket failing) from now on, through transportClosed(). */
  watch(): void;
}

const { EPIPE } = os.constants.errno;

/** The error a net.Socket would give for a positive errno from the transport (EPIPE, ECONNRESET, ...). */
export function errnoError(errno: number, syscall: 'read' | 'write'): NodeJS.ErrnoException {
  const code = util.getSystemErrorName(-errno);
  return Object.assign(new Error(`${syscall} ${code}`), { code, errno: -errno, syscall });
}

interface AddressCache {
  address?: string;
  port?: number;
  family?: string;
}

/**
 * The socket an app sees on a request the native acceptor read whole: a Duplex with net.Socket's
 * surface (addresses, bytesWritten, setTimeout, ...), writing through a Transport. No libuv
 * handle and no read side: the packet was read before the request was built, so reading ends at
 * once. Node's IncomingMessage and ServerResponse, Express, Koa and Fastify only use this
 * surface; anything needing a real fd (an upgrade) never gets here.
 */
export class LiteSocket extends Duplex {
  /** What request.ts presentClientAddress() fills, as on net.Socket. */
  _peername?: AddressCache;
  _sockname?: AddressCache;
  encrypted?: boolean;
  bytesRead: number;
  readonly connecting = false;
  readonly pending = false;
  /** ServerResponse.assignSocket's slot. */
  _httpMessage: unknown = null;
  private written = 0;
  /** The transport's connection is still open (ours to close). */
  private open = true;
  private pendingWrite?: (error?: Error | null) => void;
  private timer?: NodeJS.Timeout;
  private timeoutMs = 0;

  constructor(private readonly transport: Transport, bytesRead: number) {
    // The read side stays open and silent, as a front end's connection does while it waits for
    // the answer (nginx never half-closes). Not `readable: false`: on-finished, and so Express 5's
    // body-parser, would take the request for read already and skip its body.
    super({ allowHalfOpen: true, autoDestroy: false, emitClose: true, decodeStrings: true });
    this.bytesRead = bytesRead;
  }

  get remoteAddress(): string | undefined {
    return this._peername?.address;
  }
  get remotePort(): number | undefined {
    return this._peername?.port;
  }
  get remoteFamily(): string | undefined {
    return this._peername?.family;
  }
  get localAddress(): string | undefined {
    return this._sockname?.address;
  }
  get localPort(): number | undefined {
    return this._sockname?.port;
  }
  get bytesWritten(): number {
    return this.written;
  }
  get readyState(): string {
    // A destroyed stream is never writable.
    return this.writable ? 'writeOnly' : 'closed';
  }

  address(): AddressCache {
    return this._sockname ?? {};
  }

  // ---- the transport calls back --------------------------------------------------------------

  /** The queue the last write left is flushed. */
  transportFlushed(): void {
    const cb = this.pendingWrite;
    this.pendingWrite = undefined;
    cb?.();
  }

  /** The transport closed the connection (after end(), or the peer went away). */
  transportClosed(error?: Error): void {
    this.open = false;
    if (this.pendingWrite) {
      const cb = this.pendingWrite;
      this.pendingWrite = undefined;
      cb(error ?? errnoError(EPIPE, 'write'));
    }
    this.destroy(error);
  }

  // ---- Duplex --------------------------------------------------------------------------------

  override _read(): void {
    // Nothing: the request was read before this socket was made.
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, cb: (error?: Error | null) => void): void {
    this.send([chunk], chunk.length, cb);
  }

  override _writev(chunks: { chunk: Buffer }[], cb: (error?: Error | null) => void): void {
    const buffers = new Array<Buffer>(chunks.length);
    let size = 0;
    for (let i = 0; i < chunks.length; i++) {
      buffers[i] = chunks[i].chunk;
      size += buffers[i].length;
    }
    this.send(buffers, size, cb);
  }

  private send(buffers: Buffer[], size: number, cb: (error?: Error | null) => void): void {
    this.touch();
    const queued = this.transport.write(buffers);
    if (queued < 0) return cb(errnoError(-queued, 'write'));
    this.written += size;
    if (queued === 0) return cb();
    this.pendingWrite = cb;
  }

  override _final(cb: (error?: Error | null) => void): void {
    cb();
    if (this.open && this.transport.end()) {
      this.open = false;
      this.destroy();
    }
    // else: the transport calls transportClosed() once the queue is out.
  }

  override _destroy(error: Error | null, cb: (error?: Error | null) => void): void {
    this.clearTimer();
    // Every write callback has run, so nothing is queued, or this is an abort (a harakiri cut,
    // the app destroying the response) and what is queued is dropped: close now either way.
    if (this.open) {
      this.open = false;
      this.transport.destroy();
    }
    cb(error);
  }

  // ---- net.Socket's extras -------------------------------------------------------------------

  /** Watch for the peer going away while the app works on an answer that comes later. */
  watchPeer(): void {
    if (!this.destroyed) this.transport.watch();
  }

  setTimeout(ms: number, callback?: () => void): this {
    this.timeoutMs = ms;
    if (callback) {
      if (ms === 0) this.removeListener('timeout', callback);
      else this.once('timeout', callback);
    }
    this.touch();
    return this;
  }

  /** Idle timeout as on net.Socket: restarted by activity (here, writes). */
  private touch(): void {
    this.clearTimer();
    if (this.timeoutMs > 0 && !this.destroyed) {
      this.timer = setTimeout(() => this.emit('timeout'), this.timeoutMs);
      this.timer.unref();
    }
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  setNoDelay(): this {
    return this;
  }
  setKeepAlive(): this {
    return this;
  }
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }
}

/**
 * A LiteSocket where Node's types want a net.Socket (IncomingMessage, ServerResponse, the
 * bridge's builders): it has every member those use, which the TypeScript types cannot see.
 */
export function asNetSocket(socket: LiteSocket): Socket {
  return socket as unknown as Socket;
}
