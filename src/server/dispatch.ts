import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { LoadedApp } from '../app/load.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * The app as one function of (req, res). Requests go through `emit('request')` on a real
 * http.Server (the app's own, or one made for its listener): APM agents hook
 * http.Server.prototype.emit, and apps may add their own 'request' listeners. A handler that
 * throws, or whose promise rejects, gets a 500 (or a cut connection once the head is out) and
 * the worker keeps serving.
 */
export function makeDispatcher(app: LoadedApp, log: (line: string) => void, before: Handler, onException: () => void = () => {}): Handler {
  const fail = (req: IncomingMessage, res: ServerResponse, error: unknown) => {
    onException();
    log(`exception in the app while handling ${req.method} ${req.url}: ${(error as Error)?.stack ?? error}`);
    if (res.destroyed || res.writableEnded) return;
    if (res.headersSent) return void res.destroy();
    const body = '500 Internal Server Error\n';
    res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  };
  let server = app.server;
  if (!server) {
    const listener = app.listener!;
    server = http.createServer();
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const result = listener(req, res) as Promise<unknown> | undefined;
      if (result && typeof result.then === 'function') result.then(undefined, (error: unknown) => fail(req, res, error));
    });
  }
  const target = server;
  return (req, res) => {
    before(req, res);
    try {
      target.emit('request', req, res);
    } catch (error) {
      fail(req, res, error);
    }
  };
}
