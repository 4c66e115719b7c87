import { closeSync } from 'node:fs';
import net from 'node:net';
import { admit, serveUwsgiConnection, type ConnectionOptions } from '../bridge/connection.js';
import { asNetSocket, errnoError, LiteSocket, type Transport } from '../bridge/lite-socket.js';
import { readWholePacket, serveWholeRequest } from '../bridge/whole-packet.js';
import type { Acceptor, NativeBinding } from '../native/binding.js';

/**
 * The most the acceptor's first read takes. A request whose body is in by then (nginx writes the
 * header block and a buffered body at once; a unix socket holds about 208 KiB) is served from that
 * one read: a 100 KiB upload costs no streaming. Larger bodies are streamed on a net.Socket.
 */
export const FIRST_READ_BYTES = 256 * 1024;

/**
 * Header blocks alone (a GET's whole request) are copied by the acceptor into a shared pool, a
 * slice of which costs far less than a Buffer of its own. A fresh pool is set once the current
 * one has less than POOL_MIN_FREE left (a block that does not fit gets its own Buffer meanwhile).
 */
export const POOL_BYTES = 128 * 1024;
export const POOL_MIN_FREE = 8 * 1024;

/** How often a closing listener looks whether the acceptor still holds connections without data. */
const PENDING_CHECK_MS = 10;

/** One connection held by the acceptor, as the LiteSocket's transport. */
class NativeTransport implements Transport {
  constructor(
    private readonly binding: NativeBinding,
    private readonly acceptor: Acceptor,
    private readonly id: number,
  ) {}
  write(chunks: Buffer[]): number {
    return this.binding.write(this.acceptor, this.id, chunks);
  }
  end(): boolean {
    return this.binding.end(this.acceptor, this.id);
  }
  destroy(): void {
    this.binding.destroy(this.acceptor, this.id);
  }
  watch(): void {
    this.binding.watch(this.acceptor, this.id);
  }
}

/**
 * A uwsgi socket served through the native acceptor. A connection whose first read holds one
 * whole, ordinary request is served on a LiteSocket (whole-packet.ts); any other (a ping, a
 * packet still arriving, a body to stream, an upgrade, an invalid packet) is released to a
 * net.Socket with the bytes already read and served by connection.ts, exactly as without the
 * addon. Quacks like the net.Server it replaces for the worker: close(callback) stops accepting
 * and calls back once every connection it made has closed.
 */
export class NativeUwsgiListener {
  private readonly acceptor: Acceptor;
  private readonly open = new Map<number, LiteSocket>();
  /** Connections handed to net.Sockets, still open. */
  private released = 0;
  private closing?: () => void;
  private pendingCheck?: NodeJS.Timeout;
  private pool = Buffer.allocUnsafeSlow(POOL_BYTES);

  constructor(
    private readonly binding: NativeBinding,
    private readonly fd: number,
    backlog: number,
    private readonly options: ConnectionOptions,
  ) {
    this.acceptor = binding.createAcceptor(fd, {
      onConnection: (id, data, offset) => this.onConnection(id, typeof data === 'number' ? this.fromPool(data, offset!) : data),
      onWritable: (id) => this.open.get(id)?.transportFlushed(),
      onPeerClose: (id, errno) => this.open.get(id)?.transportClosed(errno ? errnoError(errno, 'read') : undefined),
      onClosed: (id) => this.open.get(id)?.transportClosed(),
    }, { backlog, readSize: FIRST_READ_BYTES });
    binding.setPool(this.acceptor, this.pool);
    if (options.maxConnections) (options.waiting ??= []).push(() => this.waiting());
  }

  /** The slice the acceptor filled; a fresh pool for it once this one runs low. */
  private fromPool(length: number, offset: number): Buffer {
    const data = this.pool.subarray(offset, offset + length);
    if (this.pool.length - offset - length < POOL_MIN_FREE) {
      this.pool = Buffer.allocUnsafeSlow(POOL_BYTES);
      this.binding.setPool(this.acceptor, this.pool);
    }
    return data;
  }

  /** Connections the acceptor holds that JavaScript has not been given yet (--max-connections). */
  private waiting(): number {
    return Math.max(0, this.binding.stats(this.acceptor).open - this.open.size);
  }

  private onConnection(id: number, data: Buffer): void {
    const request = data.length > 0 ? readWholePacket(data, this.options) : undefined;
    if (!request) return this.release(id, data);
    const socket = new LiteSocket(new NativeTransport(this.binding, this.acceptor, id), data.length);
    // In `open` before admit(): waiting() must not count this one twice.
    this.open.set(id, socket);
    socket.once('close', () => {
      this.open.delete(id);
      this.maybeClosed();
    });
    // --max-connections counts these too; a refusal (503) is written through the same socket.
    if (admit(asNetSocket(socket), this.options)) serveWholeRequest(socket, request, this.options);
  }

  /** The streaming path, from the bytes already read. */
  private release(id: number, data: Buffer): void {
    const fd = this.binding.release(this.acceptor, id);
    if (fd < 0) return;
    const socket = new net.Socket({ fd, readable: true, writable: true });
    this.released++;
    socket.once('close', () => {
      this.released--;
      this.maybeClosed();
    });
    serveUwsgiConnection(socket, this.options, data);
  }

  /**
   * Stop accepting and close this worker's copy of the listening fd, as net.Server.close()
   * does: once every worker has, connects are refused at once (nginx passes them on) instead of
   * queueing on a socket nobody accepts from any more.
   */
  close(callback: () => void): void {
    this.binding.close(this.acceptor);
    try {
      closeSync(this.fd);
    } catch {
      // already closed
    }
    this.closing = callback;
    this.maybeClosed();
  }

  private maybeClosed(): void {
    if (!this.closing || this.open.size > 0 || this.released > 0) return;
    // Connections the acceptor took before their first bytes came (nginx connects, then writes)
    // are not JavaScript's yet: they reach onConnection when their bytes come (or after
    // pendingMs), or end with their peer, without a call. Exiting now would reset them and
    // nginx would answer 502: look again until the acceptor holds none.
    if (this.waiting() > 0) {
      this.pendingCheck ??= setInterval(() => this.maybeClosed(), PENDING_CHECK_MS);
      return;
    }
    clearInterval(this.pendingCheck);
    const callback = this.closing;
    this.closing = undefined;
    callback();
  }
}
