// The demo app: a plain Node (req, res) listener, nothing nuwsgi-specific in it.
// Run it with `npm start` and try: curl http://127.0.0.1:8080/  (or through nginx on the uwsgi socket).
export default function app(req, res) {
  const url = new URL(req.url, `http://${req.headers.host ?? 'localhost'}`);
  if (url.pathname === '/echo' && req.method === 'POST') {
    res.setHeader('Content-Type', req.headers['content-type'] ?? 'application/octet-stream');
    req.pipe(res);
    return;
  }
  const body = JSON.stringify({
    hello: 'from nuwsgi',
    method: req.method,
    url: req.url,
    ip: req.socket.remoteAddress,
    pid: process.pid,
  }) + '\n';
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}
