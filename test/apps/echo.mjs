// Echo app used by the end-to-end tests: reports what the request looked like to a Node app,
// and has routes for each response shape the tests need.
import { createHash } from 'node:crypto';
// The built package's public API (same module instance the worker uses).
import { getUwsgiVars } from '../../dist/src/index.js';

export default function app(req, res) {
  const url = new URL(req.url, 'http://x');
  const route = url.pathname;
  if (route === '/sha256') {
    const hash = createHash('sha256');
    let size = 0;
    // ?delay=ms: start reading the body late, like an app that awaits something first.
    setTimeout(() => {
      req.on('data', (c) => { hash.update(c); size += c.length; });
      req.on('end', () => {
        const body = JSON.stringify({ size, sha256: hash.digest('hex') });
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(body);
      });
    }, Number(url.searchParams.get('delay') ?? 0));
    return;
  }
  let size = 0;
  const chunks = [];
  req.on('data', (c) => { chunks.push(c); size += c.length; });
  req.on('end', () => {
    const body = JSON.stringify({
      method: req.method,
      url: req.url,
      pathInfo: getUwsgiVars(req)?.PATH_INFO,
      httpVersion: req.httpVersion,
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      remoteAddress: req.socket.remoteAddress,
      remotePort: req.socket.remotePort,
      encrypted: Boolean(req.socket.encrypted),
      // What Express (v4 req.connection, v5 req.socket) and Koa report as the scheme.
      protocol: req.socket.encrypted ? 'https' : 'http',
      complete: req.complete,
      bodyLength: size,
      body: Buffer.concat(chunks).toString('latin1').slice(0, 256),
      pid: process.pid,
    });
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(body);
  });
}
