import http from 'node:http';

type Listen = typeof http.Server.prototype.listen;

const captured: http.Server[] = [];
const waiters = new Set<(server: http.Server) => void>();
let installed = false;

/** The port or path the app asked for, so the stub's address() looks like what it expects. */
function requestedAddress(args: unknown[]): { address: string; family: string; port: number } | string {
  const first = args[0];
  if (typeof first === 'string' && !/^\d+$/.test(first)) return first;
  const options = (typeof first === 'object' && first !== null ? first : { port: first }) as { port?: unknown; host?: unknown; path?: unknown };
  if (typeof options.path === 'string') return options.path;
  const host = typeof args[1] === 'string' ? args[1] : typeof options.host === 'string' ? options.host : '127.0.0.1';
  return { address: host, family: host.includes(':') ? 'IPv6' : 'IPv4', port: Number(options.port) || 0 };
}

/**
 * `server.listen(...)` inside a worker: nothing is bound (the master owns the sockets). The
 * server is remembered as the app, and it behaves as if it were listening: 'listening' fires,
 * the callback runs, address() answers, close() works, so `app.listen(3000, cb)`,
 * `await fastify.listen()` and graceful-shutdown libraries keep working unchanged
 * (the approach of Phusion Passenger and srvx, node-ecosystem.md §3.6).
 */
function capturingListen(this: http.Server, ...args: unknown[]): http.Server {
  const callback = args.find((a) => typeof a === 'function') as (() => void) | undefined;
  const address = requestedAddress(args);
  let listening = true;
  Object.defineProperties(this, {
    listening: { get: () => listening, configurable: true },
    address: { value: () => (listening ? address : null), configurable: true, writable: true },
    close: {
      value: (cb?: (err?: Error) => void) => {
        listening = false;
        process.nextTick(() => {
          this.emit('close');
          cb?.();
        });
        return this;
      },
      configurable: true,
      writable: true,
    },
  });
  if (callback) this.once('listening', callback);
  process.nextTick(() => this.emit('listening'));
  if (!captured.includes(this)) {
    captured.push(this);
    for (const waiter of waiters) waiter(this);
  }
  return this;
}

/** Replace http.Server.prototype.listen for the life of this worker process. */
export function installListenCapture(): void {
  if (installed) return;
  installed = true;
  http.Server.prototype.listen = capturingListen as Listen;
}

/** The first server the app tried to listen on, waiting up to `timeoutMs` for one. */
export function capturedServer(timeoutMs: number): Promise<http.Server | undefined> {
  if (captured.length > 0) return Promise.resolve(captured[0]);
  return new Promise((resolve) => {
    const done = (server: http.Server | undefined) => {
      clearTimeout(timer);
      waiters.delete(done);
      resolve(server);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    waiters.add(done);
  });
}
