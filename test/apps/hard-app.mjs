// App for the hardening and fuzz tests (test/hardening-*.test.ts, test/fuzz-socket.test.ts).
// Every answer names the request (?n=) and the worker pid; what the app sees of aborts and closes
// goes to stderr as "hard-app: ..." lines, so tests can check the app was told.
//   /             -> 200 "n=<n> pid=<pid>" (the body, if any, is read and dropped)
//   /body         -> 200 {"n","size","sha256","pid"} once the whole body is read
//   /slow?ms=N    -> as / after N ms; logs "hard-app: start n=<n> pid=<pid>" and "... end ..."
//   /trickle?ms=N&count=C -> C chunks of 1 KiB, one every N ms, no Content-Length
//   /big?blocks=N -> N blocks of 64 KiB piped with back-pressure (Content-Length set)
//   /hang         -> never answers (harakiri and mercy tests)
//   /hdr/<case>   -> a response with headers that would break the front end (see HEADER_CASES)
// Aborts: "hard-app: aborted n=<n> after <bytes> body bytes", "hard-app: req error n=<n> <code>",
// "hard-app: res closed early n=<n> after <bytes> bytes".
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';

const say = (line) => process.stderr.write(`hard-app: ${line}\n`);

/** Block `i` of a /big download (same as responses.mjs): 64 KiB whose bytes depend on i. */
export function bigBlock(i) {
  const block = Buffer.alloc(65536, i & 0xff);
  block.writeUInt32BE(i, 0);
  return block;
}

/** Responses whose headers a front end must not get as they are. Each ends the response itself. */
export const HEADER_CASES = {
  // CR/LF injection, every way Node validates it.
  'crlf-set': (req, res) => {
    res.setHeader('X-Bad', 'a\r\nX-Injected: 1');
    res.end('must not be seen');
  },
  'crlf-callback': (req, res) => {
    setTimeout(() => {
      res.setHeader('Location', '/next\r\nSet-Cookie: evil=1');
      res.end('must not be seen');
    }, 5);
  },
  'crlf-async': async (req, res) => {
    await new Promise((r) => setTimeout(r, 5));
    res.setHeader('X-Bad', 'a\nb');
    res.end('must not be seen');
  },
  'crlf-writehead': (req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain', 'X-Bad': 'a\r\nX-Injected: 1' });
    res.end('must not be seen');
  },
  'crlf-writehead-array': (req, res) => {
    res.setHeader('X-Pre', 'ok');
    res.writeHead(200, ['X-Bad', 'a\r\nX-Injected: 1']);
    res.end('must not be seen');
  },
  'crlf-append': (req, res) => {
    res.appendHeader('Set-Cookie', 'a=1\r\nX-Injected: 1');
    res.end('must not be seen');
  },
  'crlf-status-message': (req, res) => {
    res.writeHead(200, 'OK\r\nX-Injected: 1');
    res.end('must not be seen');
  },
  'crlf-status-property': (req, res) => {
    res.statusMessage = 'OK\r\nX-Injected: 1';
    res.end('must not be seen');
  },
  'bad-name': (req, res) => {
    res.setHeader('X-Bad\r\nX-Injected', '1');
    res.end('must not be seen');
  },
  // The app catches Node's error and carries on: still refused (see response.ts refuse()).
  'crlf-caught': (req, res) => {
    try {
      res.setHeader('X-Bad', 'a\r\nb');
    } catch {
      res.setHeader('X-Bad', 'a b');
    }
    res.end('fallback');
  },
  'bad-status': (req, res) => {
    res.statusCode = 1000;
    res.end('must not be seen');
  },
  'interim-final': (req, res) => {
    res.writeHead(103, { Link: '</a.css>; rel=preload' });
    res.end();
  },
  'switch-without-upgrade': (req, res) => {
    res.writeHead(101, { Connection: 'Upgrade', Upgrade: 'websocket' });
    res.end();
  },
  // Hop-by-hop and CGI status headers: dropped, the rest of the response intact.
  'hop-set': (req, res) => {
    res.setHeader('Connection', 'keep-alive, X-Secret');
    res.setHeader('Keep-Alive', 'timeout=5');
    res.setHeader('Proxy-Connection', 'keep-alive');
    res.setHeader('Upgrade', 'h2c');
    res.setHeader('TE', 'trailers');
    res.setHeader('Trailer', 'X-Checksum');
    res.setHeader('Transfer-Encoding', 'chunked');
    res.setHeader('Status', '404 Not Found');
    res.setHeader('X-Secret', 'kept');
    res.setHeader('Content-Type', 'text/plain');
    res.end('hop');
  },
  'hop-writehead': (req, res) => {
    res.writeHead(200, { Connection: 'close', 'Keep-Alive': 'timeout=5', Upgrade: 'h2c', Status: '500 Oops', 'Transfer-Encoding': 'chunked', 'Content-Type': 'text/plain' });
    res.write('ho');
    res.end('p');
  },
  'hop-raw': (req, res) => {
    res.writeHead(200, ['Connection', 'close', 'Keep-Alive', 'timeout=5', 'Status', '302 Found', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2', 'Content-Type', 'text/plain']);
    res.end('hop');
  },
  'hop-nested': (req, res) => {
    res.writeHead(200, [['Upgrade', 'h2c'], ['Trailer', 'X-T'], ['Content-Type', 'text/plain']]);
    res.end('hop');
  },
  // 426 must name the protocols: its Upgrade is end to end and stays.
  'upgrade-required': (req, res) => {
    res.writeHead(426, { Upgrade: 'websocket', Connection: 'Upgrade', 'Content-Type': 'text/plain' });
    res.end('upgrade please');
  },
  'cl-invalid': (req, res) => {
    res.setHeader('Content-Length', 'abc');
    res.write('12345');
    res.end();
  },
  'cl-duplicate': (req, res) => {
    res.setHeader('Content-Length', ['5', '5']);
    res.end('12345');
  },
  'cl-conflict': (req, res) => {
    res.writeHead(200, ['Content-Length', '5', 'Content-Length', '6']);
    res.end('12345');
  },
};

export default function app(req, res) {
  const url = new URL(req.url, 'http://x');
  const n = url.searchParams.get('n') ?? '-';
  const route = url.pathname;
  let bodyBytes = 0;
  req.on('data', (c) => (bodyBytes += c.length));
  req.on('aborted', () => say(`aborted n=${n} after ${bodyBytes} body bytes`));
  req.on('error', (e) => say(`req error n=${n} ${e.code ?? e.message}`));
  let sent = 0;
  res.on('close', () => {
    if (!res.writableFinished) say(`res closed early n=${n} after ${sent} bytes`);
  });
  const reply = () => {
    const body = `n=${n} pid=${process.pid}`;
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  };

  if (route.startsWith('/hdr/')) {
    const handler = HEADER_CASES[route.slice(5)];
    req.resume();
    if (!handler) {
      res.writeHead(404);
      return res.end('no such case');
    }
    return handler(req, res);
  }
  switch (route) {
    case '/body': {
      const hash = createHash('sha256');
      req.on('data', (c) => hash.update(c));
      req.on('end', () => {
        const body = JSON.stringify({ n, size: bodyBytes, sha256: hash.digest('hex'), pid: process.pid });
        res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
        res.end(body);
      });
      return;
    }
    case '/slow': {
      req.resume();
      say(`start n=${n} pid=${process.pid}`);
      setTimeout(() => {
        reply();
        // After the reply: "end" means the response is with the kernel, so a worker killed
        // after this line has still answered (the SIGKILL test relies on it).
        say(`end n=${n} pid=${process.pid}`);
      }, Number(url.searchParams.get('ms') ?? 200));
      return;
    }
    case '/trickle': {
      req.resume();
      const ms = Number(url.searchParams.get('ms') ?? 50);
      const count = Number(url.searchParams.get('count') ?? 100);
      res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
      say(`trickle start n=${n} pid=${process.pid}`);
      let i = 0;
      const timer = setInterval(() => {
        if (res.destroyed || i >= count) {
          clearInterval(timer);
          if (!res.destroyed) res.end();
          return;
        }
        i++;
        sent += 1024;
        res.write(Buffer.alloc(1024, 0x74));
      }, ms);
      return;
    }
    case '/big': {
      req.resume();
      const blocks = Number(url.searchParams.get('blocks') ?? 1024);
      let i = 0;
      const source = new Readable({
        read() {
          if (i < blocks) sent += 65536;
          this.push(i < blocks ? bigBlock(i++) : null);
        },
      });
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': blocks * 65536 });
      say(`big start n=${n} pid=${process.pid}`);
      source.pipe(res);
      res.on('close', () => source.destroy());
      return;
    }
    case '/hang':
      req.resume();
      say(`hang n=${n} pid=${process.pid}`);
      return;
    default:
      req.resume();
      return reply();
  }
}
