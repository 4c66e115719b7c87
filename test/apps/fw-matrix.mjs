// The app behind every front end in e2e-frontends: one plain (req, res) listener with a route per
// case of the matrix. Nothing in it knows which front end is in front.
import { createHash } from 'node:crypto';

/** Deterministic download body: chunk i is 64 KiB of byte (i * 7 + 3) & 0xff. */
export const CHUNK = 64 * 1024;
export const chunkOf = (i) => Buffer.alloc(CHUNK, (i * 7 + 3) & 0xff);

export default function app(req, res) {
  const url = new URL(req.url, 'http://x');
  const route = url.pathname;
  if (route.startsWith('/status/')) {
    const code = Number(route.slice(8));
    res.statusCode = code;
    if (code === 204 || code === 304) return res.end();
    res.setHeader('Content-Type', 'text/plain');
    return res.end(`status ${code}\n`);
  }
  if (route === '/cookies') {
    res.setHeader('Set-Cookie', ['a=1; Path=/', 'b=2; HttpOnly', 'c=3; Max-Age=60']);
    res.setHeader('X-Multi', ['one', 'two']);
    return res.end('three cookies\n');
  }
  if (route === '/big') {
    // Streamed with back-pressure, no Content-Length: the front end sees the end at close.
    const chunks = Number(url.searchParams.get('chunks') ?? 16);
    res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
    let i = 0;
    const pump = () => {
      while (i < chunks) {
        if (!res.write(chunkOf(i++))) return void res.once('drain', pump);
      }
      res.end();
    };
    return pump();
  }
  if (route === '/bare') return res.end(); // no header of its own: still a complete HTTP response
  if (route === '/throw') throw new Error('fw-matrix: thrown on purpose');
  const hash = createHash('sha256');
  let size = 0;
  req.on('data', (c) => {
    hash.update(c);
    size += c.length;
  });
  req.on('end', () => {
    const body = JSON.stringify({
      method: req.method,
      url: req.url,
      headers: req.headers,
      remoteAddress: req.socket.remoteAddress,
      remotePort: req.socket.remotePort,
      size,
      sha256: hash.digest('hex'),
    });
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
}
