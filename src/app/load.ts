import { existsSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { capturedServer, installListenCapture } from './capture-listen.js';
import { fetchToListener, type FetchHandler } from './fetch-adapter.js';
import { setUpgradeTarget } from '../bridge/upgrade.js';

export type NodeListener = (req: IncomingMessage, res: ServerResponse) => unknown;

export interface LoadedApp {
  /** What the entry turned out to be, for the startup log. */
  kind: 'node listener' | 'fetch handler' | 'http.Server' | 'captured listen()';
  /** The app's request listener, or undefined when the app is its own http.Server. */
  listener?: NodeListener;
  server?: http.Server;
}

/** The app file could not be found, loaded or understood: startup stops with exit code 22. */
export class AppLoadError extends Error {
  override name = 'AppLoadError';
}

const isFunction = (v: unknown): v is (...args: unknown[]) => unknown => typeof v === 'function';
const fetchOf = (v: unknown): FetchHandler | undefined => {
  const f = (v as { fetch?: unknown } | null | undefined)?.fetch;
  return isFunction(f) ? (f.bind(v) as FetchHandler) : undefined;
};

/**
 * Pick the handler out of the module, most explicit shape first:
 * `{ fetch }` (default or named) -> an http.Server -> a function of one argument (a Fetch
 * handler taking a Request) -> a function of two or more (a Node `(req, res[, next])` listener:
 * Express, Koa's app.callback(), connect).
 */
function resolveHandler(mod: Record<string, unknown>, file: string): LoadedApp {
  const entry = mod.default !== undefined ? mod.default : mod;
  const nested = (entry as { default?: unknown } | null)?.default; // CJS transpiled from ESM
  const fetch = fetchOf(entry) ?? fetchOf(mod) ?? fetchOf(nested);
  if (fetch) return { kind: 'fetch handler', listener: fetchToListener(fetch) };
  if (entry instanceof http.Server) return { kind: 'http.Server', server: entry };
  const fn = isFunction(entry) ? entry : isFunction(nested) ? nested : undefined;
  if (fn) {
    if (fn.length === 1) return { kind: 'fetch handler', listener: fetchToListener(fn as FetchHandler) };
    return { kind: 'node listener', listener: fn as NodeListener };
  }
  throw new AppLoadError(
    `${file} exports no app and started no server: export a (req, res) listener (module.exports = app / ` +
      `export default app), a Fetch handler (export default { fetch(request) { ... } }) or an http.Server, ` +
      `or call app.listen() as usual`,
  );
}

/**
 * Load the app module. A script that starts its own server (`app.listen(3000)`, `await
 * fastify.listen()`) is served through the server it created, which is never bound; otherwise
 * the module's exports are the app. A script that calls listen() only later (after connecting to
 * a database, say) and exports nothing usable is waited for, up to `listenWaitMs`.
 */
export async function loadApp(file: string, listenWaitMs = 0): Promise<LoadedApp> {
  const app = await loadEntry(file, listenWaitMs);
  // Upgrade requests (WebSocket) go to the 'upgrade' listeners of the app's own server.
  setUpgradeTarget(app.server);
  return app;
}

async function loadEntry(file: string, listenWaitMs: number): Promise<LoadedApp> {
  const path = resolve(file);
  if (!existsSync(path)) throw new AppLoadError(`app file not found: ${path}`);
  installListenCapture();
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (error) {
    const e = error as Error;
    throw new AppLoadError(`failed to load ${path}: ${e.stack ?? e}`);
  }
  const early = await capturedServer(0);
  if (early) return { kind: 'captured listen()', server: early };
  try {
    return resolveHandler(mod, path);
  } catch (error) {
    const late = listenWaitMs > 0 ? await capturedServer(listenWaitMs) : undefined;
    if (late) return { kind: 'captured listen()', server: late };
    throw error;
  }
}
