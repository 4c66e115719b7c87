// A plain Node (req, res) listener, nothing nuwsgi-specific: export it, nuwsgi calls it.
//   nuwsgi --socket /run/app/app.sock --chmod-socket=666 examples/http/app.mjs
export default function app(req, res) {
  if (req.url === '/cookies') {
    res.setHeader('Set-Cookie', ['session=abc; HttpOnly', 'theme=dark']);
    return res.end('two cookies\n');
  }
  if (req.url === '/json' && req.method === 'POST') {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      res.writeHead(201, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ received: JSON.parse(Buffer.concat(chunks).toString()) }));
    });
    return;
  }
  res.setHeader('Content-Type', 'application/json');
  res.end(JSON.stringify({ http: true, ip: req.socket.remoteAddress, protocol: req.socket.encrypted ? 'https' : 'http', host: req.headers.host, url: req.url }));
}
