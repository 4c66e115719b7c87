// Server-Sent Events through nginx. nginx buffers uwsgi responses by default, so a stream would
// reach the client all at once at its end; the response header `X-Accel-Buffering: no` (which
// nginx consumes and does not forward) turns buffering off for this response only. The other
// way is `uwsgi_buffering off;` on the streaming location (nginx/uwsgi-streaming.conf).
//   nuwsgi --socket /run/app/app.sock --chmod-socket=666 examples/sse/app.mjs
export default function app(req, res) {
  const url = new URL(req.url, 'http://x');
  if (!url.pathname.endsWith('/events')) {
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    return res.end('try /events\n');
  }
  const count = Number(url.searchParams.get('count') ?? 5);
  const every = Number(url.searchParams.get('every') ?? 300);
  const headers = { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' };
  if (url.searchParams.get('buffered') !== '1') headers['X-Accel-Buffering'] = 'no';
  res.writeHead(200, headers);
  let n = 0;
  const timer = setInterval(() => {
    res.write(`id: ${++n}\ndata: ${JSON.stringify({ n, at: Date.now() })}\n\n`);
    if (n === count) {
      clearInterval(timer);
      res.end();
    }
  }, every);
  res.on('close', () => clearInterval(timer));
}
