// App for the observability end-to-end tests (test/e2e-observability.test.ts). Every route is
// defined by its query, so the tests know exactly what each response is:
//   /hello             -> 200 "hello world\n" with Content-Type, Content-Length, X-Extra, Connection
//                         (the same head the WSGI twin in the test sends, for the uWSGI comparison)
//   /status?code=N&size=M -> status N with an M-byte body ('z' * M); size 0 is an empty body
//   /slow?ms=N         -> 200 "slow" after N ms
//   /pid               -> 200 "pid=<pid>"
//   /throw             -> the handler throws (nuwsgi answers 500 and counts an exception)
//   /hang              -> never answers (harakiri's 504)
//   /chatty?log=N      -> console.log()s one N-byte line "APP <id> <N> <payload> END" (id from
//                         ?id=), then 200 "ok"
// Any other path: 200 "ok". The body is always read first. Every answer of the app carries
// X-Pid: the worker's pid, zero-padded to 7 digits so the head has the same size in every worker.
export default function app(req, res) {
  const url = new URL(req.url, 'http://x');
  const q = url.searchParams;
  const send = (status, body, headers = {}) => {
    const pid = String(process.pid).padStart(7, '0');
    res.writeHead(status, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body), 'X-Pid': pid, ...headers });
    res.end(body);
  };
  if (url.pathname === '/throw') throw new Error('obs-app: thrown on purpose');
  if (url.pathname === '/hang') return;
  req.resume();
  req.on('end', () => {
    switch (url.pathname) {
      case '/hello':
        return send(200, 'hello world\n', { 'X-Extra': 'yes', Connection: 'close' });
      case '/status': {
        const size = Number(q.get('size') ?? 0);
        return send(Number(q.get('code') ?? 200), 'z'.repeat(size));
      }
      case '/slow':
        return void setTimeout(() => send(200, 'slow'), Number(q.get('ms') ?? 1000));
      case '/pid':
        return send(200, `pid=${process.pid}`);
      case '/chatty': {
        const n = Number(q.get('log') ?? 0);
        const id = q.get('id') ?? '-';
        if (n > 0) {
          const head = `APP ${id} ${n} `;
          const tail = ' END';
          const fill = Math.max(0, n - head.length - tail.length);
          console.log(head + (id.slice(-1) || 'x').repeat(fill) + tail);
        }
        return send(200, 'ok');
      }
      default:
        return send(200, 'ok');
    }
  });
}
