// App for the lifecycle tests (test/e2e-lifecycle.test.ts, test/malformed.test.ts).
// Every answer names the request (?n=) and the worker's pid, so tests can check bodies and see
// which generation of workers served them.
//   /            -> 200 "n=<n> pid=<pid>"
//   /body        -> the same once the whole request body has been read
//   /slow?ms=N   -> the same after N ms (logs start and end, so tests can sequence on the log)
//   /hang        -> an async handler that never answers (the event loop stays free)
//   /block       -> blocks the event loop (bounded at 60 s so a leaked worker cannot spin forever)
//   /throw-later -> answers, then throws from a timer: an uncaught exception outside any request
export default async function app(req, res) {
  const url = new URL(req.url, 'http://x');
  const n = url.searchParams.get('n') ?? '-';
  const reply = () => {
    const body = `n=${n} pid=${process.pid}`;
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  };
  switch (url.pathname) {
    case '/body':
      req.on('end', reply);
      req.resume();
      return;
    case '/slow': {
      req.resume();
      process.stderr.write(`life-app: slow request ${n} started\n`);
      await new Promise((resolve) => setTimeout(resolve, Number(url.searchParams.get('ms') ?? 1500)));
      process.stderr.write(`life-app: slow request ${n} finished\n`);
      return reply();
    }
    case '/hang':
      process.stderr.write(`life-app: request ${n} hangs\n`);
      return new Promise(() => {});
    case '/block': {
      process.stderr.write(`life-app: blocking the event loop in pid ${process.pid}\n`);
      const end = Date.now() + 60_000;
      while (Date.now() < end);
      return reply();
    }
    case '/throw-later':
      req.resume();
      setTimeout(() => {
        throw new Error('boom from a timer');
      }, 10);
      return reply();
    default:
      req.resume();
      return reply();
  }
}
