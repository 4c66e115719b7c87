// The app of e2e-deploy: says which server (NUWSGI_LABEL) and process served a request, after an
// optional delay, so a test can tell where nginx sent each request and keep requests in flight.
export default function app(req, res) {
  const url = new URL(req.url, 'http://x');
  let size = 0;
  req.on('data', (c) => (size += c.length));
  req.on('end', () => {
    const answer = () => {
      const body = JSON.stringify({ label: process.env.NUWSGI_LABEL ?? '', pid: process.pid, method: req.method, url: req.url, size, ip: req.socket.remoteAddress });
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    };
    const ms = Number(url.searchParams.get('ms') ?? 0);
    // ?announce: a line in the server log once the request is in the app, for tests that must
    // know a request is in flight before they act (a sleep is not enough on a loaded machine).
    if (url.searchParams.has('announce')) console.log(`fw-deploy: ${req.url} in flight`);
    if (url.pathname === '/block') {
      // A stuck request: busy for `ms` (harakiri's business).
      const until = Date.now() + ms;
      const spin = () => (Date.now() < until ? setTimeout(spin, 50) : answer());
      return spin();
    }
    if (ms > 0) setTimeout(answer, ms);
    else answer();
  });
}
