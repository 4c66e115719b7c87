// Response-shape app for test/e2e-responses.test.ts: one route per way a Node app can answer.
import { Readable } from 'node:stream';

/** Block `i` of a /big download: 64 KiB whose bytes depend on i, so reordering changes the hash. */
export function bigBlock(i) {
  const block = Buffer.alloc(65536, i & 0xff);
  block.writeUInt32BE(i, 0);
  return block;
}

const NO_BODY = new Set([204, 304]);

async function rejecting() {
  await new Promise((r) => setTimeout(r, 5));
  throw new Error('boom-async');
}

export default function app(req, res) {
  const url = new URL(req.url, 'http://x');
  const route = url.pathname;

  if (route.startsWith('/status/')) {
    const code = Number(route.slice('/status/'.length));
    if (code === 304) res.setHeader('ETag', '"v1"');
    res.writeHead(code, { 'Content-Type': 'text/plain' });
    // A body attempt on 204/304 must be dropped; Node ignores writes once _hasBody is false.
    res.end(NO_BODY.has(code) ? 'must-not-appear' : `status ${code}\n`);
    return;
  }
  if (route === '/big') {
    const blocks = Number(url.searchParams.get('blocks') ?? 1024);
    let i = 0;
    const source = new Readable({
      read() {
        this.push(i < blocks ? bigBlock(i++) : null);
      },
    });
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': blocks * 65536 });
    source.pipe(res);
    return;
  }
  if (route === '/stream') {
    // Several writes over a few ticks and no Content-Length: close-delimited on the uwsgi hop.
    res.setHeader('Content-Type', 'text/plain');
    res.write('alpha\n');
    setTimeout(() => {
      res.write('beta\n');
      res.write(Buffer.from('gamma\n'));
      setTimeout(() => res.end('delta\n'), 10);
    }, 10);
    return;
  }
  if (route === '/end') {
    res.setHeader('Content-Type', 'text/plain');
    res.end('hello world');
    return;
  }
  if (route === '/cookies-set') {
    res.setHeader('Set-Cookie', ['a=1; Path=/', 'b=2; HttpOnly', 'c=3']);
    res.end('cookies');
    return;
  }
  if (route === '/cookies-raw') {
    res.writeHead(200, ['Content-Type', 'text/plain', 'Set-Cookie', 'a=1; Path=/', 'Set-Cookie', 'b=2; HttpOnly', 'Set-Cookie', 'c=3']);
    res.end('cookies');
    return;
  }
  if (route === '/te-set') {
    res.setHeader('Transfer-Encoding', 'chunked');
    res.write('one\n');
    res.write('two\n');
    res.end('three\n');
    return;
  }
  if (route === '/te-writehead') {
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Transfer-Encoding': 'chunked' });
    res.write('one\n');
    res.write('two\n');
    res.end('three\n');
    return;
  }
  if (route === '/te-raw') {
    res.writeHead(200, ['Content-Type', 'text/plain', 'Transfer-Encoding', 'chunked']);
    res.write('one\n');
    res.end('two\n');
    return;
  }
  if (route === '/hints') {
    let hinted = false;
    res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' }, () => (hinted = true));
    res.writeContinue();
    res.writeProcessing();
    setTimeout(() => res.end(`after hints (callback ran: ${hinted})`), 10);
    return;
  }
  if (route === '/throw') {
    throw new Error('boom-sync');
  }
  if (route === '/reject') {
    return rejecting();
  }
  if (route === '/exit') {
    // Mid-request, before any response byte: nginx sees the connection close without a header.
    setTimeout(() => process.exit(3), 20);
    return;
  }
  if (route === '/pid') {
    res.end(String(process.pid));
    return;
  }
  res.writeHead(404, { 'Content-Type': 'text/plain' });
  res.end('no such route\n');
}
