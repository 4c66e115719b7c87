// Echo app used by the end-to-end tests: reports what the request looked like to a Node app,
// and has routes for each response shape the tests need.
import { createHash } from 'node:crypto';

export default function app(req, res) {
  const url = new URL(req.url, 'http://x');
  const route = url.pathname;
  if (route === '/sha256') {
    const hash = createHash('sha256');
    let size = 0;
    req.on('data', (c) => { hash.update(c); size += c.length; });
    req.on('end', () => {
      const body = JSON.stringify({ size, sha256: hash.digest('hex') });
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(body);
    });
    return;
  }
  let size = 0;
  const chunks = [];
  req.on('data', (c) => { chunks.push(c); size += c.length; });
  req.on('end', () => {
    const body = JSON.stringify({
      method: req.method,
      url: req.url,
      httpVersion: req.httpVersion,
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      remoteAddress: req.socket.remoteAddress,
      remotePort: req.socket.remotePort,
      encrypted: Boolean(req.socket.encrypted),
      bodyLength: size,
      body: Buffer.concat(chunks).toString('latin1').slice(0, 256),
      pid: process.pid,
    });
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(body);
  });
}
