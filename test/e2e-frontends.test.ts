// The same end-to-end cases through every front end that speaks uwsgi, each started from Debian's
// packages: nginx 1.22 (unix socket and TCP), Apache 2.4 with mod_proxy_uwsgi (TCP and unix), and
// uWSGI 2.0's own HTTP router (unix and TCP). One nuwsgi server (both sockets) behind all of them.
// Where the front ends differ (protocol.md §4), the expectation says so and why.
import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { startApache, type ApacheInstance } from './helpers/apache.js';
import { shutdown } from './helpers/lifecycle.js';
import { freePort, startNginx, type NginxInstance } from './helpers/nginx.js';
import { startServer, type ServerInstance } from './helpers/server.js';
import { startRouter, type RouterInstance } from './helpers/uwsgi-router.js';

interface FrontEnd {
  name: string;
  baseUrl: string;
  /** What the app sees as req.socket.remotePort for a client on `port`. */
  remotePort(port: number): number;
  /** How the app sees two `Cookie:` request lines `a=1` and `b=2`. */
  cookies: string;
  /** The Host header the app sees for a client that sent `127.0.0.1:PORT`. */
  host(sent: string): string;
  /** A `Transfer-Encoding: chunked` upload. */
  chunkedUpload: 'de-chunked' | 411 | 'dropped';
}

/** uWSGI's router sends REMOTE_PORT in network byte order (no ntohs; unbit/uwsgi#1889). */
const byteSwapped = (port: number) => ((port & 0xff) << 8) | (port >> 8);

const fronts: FrontEnd[] = [];
const stops: (() => Promise<void>)[] = [];
let server: ServerInstance;

test.before(async () => {
  const tcp = await freePort();
  server = await startServer({ app: 'fw-matrix.mjs', args: ['--socket', `127.0.0.1:${tcp}`, '-p', '2'] });
  const unix = server.socket;
  const started = await Promise.all([
    startNginx({ upstream: `unix:${unix}` }),
    startNginx({ upstream: `127.0.0.1:${tcp}` }),
    startApache({ backend: `uwsgi://127.0.0.1:${tcp}/` }),
    startApache({ backend: `unix:${unix}|uwsgi://localhost/` }),
    startRouter({ to: unix }),
    startRouter({ to: `127.0.0.1:${tcp}` }),
  ]);
  const [ngxUnix, ngxTcp, apTcp, apUnix, rtUnix, rtTcp] = started as [NginxInstance, NginxInstance, ApacheInstance, ApacheInstance, RouterInstance, RouterInstance];
  for (const s of started) stops.push(() => s.stop());
  const same = (port: number) => port;
  // Debian's uwsgi_params sends `HTTP_HOST $host`: the name without the port.
  const hostname = (sent: string) => sent.replace(/:\d+$/, '');
  const asSent = (sent: string) => sent;
  // nginx 1.22 sends a repeated header as repeated vars; nuwsgi joins Cookie with "; " as
  // nginx >= 1.23 does. Apache (apr_table_compress) and the router join every header with ", ",
  // Cookie included, before nuwsgi sees it: a cookie parser then reads a="1, b=2".
  fronts.push(
    { name: 'nginx (unix socket)', baseUrl: ngxUnix.baseUrl, remotePort: same, host: hostname, cookies: 'a=1; b=2', chunkedUpload: 'de-chunked' },
    { name: 'nginx (TCP)', baseUrl: ngxTcp.baseUrl, remotePort: same, host: hostname, cookies: 'a=1; b=2', chunkedUpload: 'de-chunked' },
    // mod_proxy_uwsgi needs the length up front: it answers a chunked upload with 411 itself.
    { name: 'Apache mod_proxy_uwsgi (TCP)', baseUrl: apTcp.baseUrl, remotePort: same, host: asSent, cookies: 'a=1, b=2', chunkedUpload: 411 },
    { name: 'Apache mod_proxy_uwsgi (unix socket)', baseUrl: apUnix.baseUrl, remotePort: same, host: asSent, cookies: 'a=1, b=2', chunkedUpload: 411 },
    // The router forwards no body without a Content-Length (raw chunks only with --http-chunked-input).
    { name: 'uWSGI HTTP router (unix socket)', baseUrl: rtUnix.baseUrl, remotePort: byteSwapped, host: asSent, cookies: 'a=1, b=2', chunkedUpload: 'dropped' },
    { name: 'uWSGI HTTP router (TCP)', baseUrl: rtTcp.baseUrl, remotePort: byteSwapped, host: asSent, cookies: 'a=1, b=2', chunkedUpload: 'dropped' },
  );
});

test.after.always(async () => {
  await Promise.all(stops.map((stop) => stop()));
  if (server) await shutdown(server);
});

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
  /** The client's own port, for REMOTE_PORT. */
  localPort: number;
}

function request(
  url: string,
  opts: { method?: string; headers?: [string, string][]; body?: Buffer; chunked?: Buffer[]; agent?: http.Agent } = {},
): Promise<Reply> {
  const u = new URL(url);
  const headers: [string, string][] = [['Host', u.host], ...(opts.headers ?? [])];
  if (opts.body) headers.push(['Content-Length', String(opts.body.length)]);
  if (opts.chunked) headers.push(['Transfer-Encoding', 'chunked']);
  return new Promise((resolve, reject) => {
    let localPort = 0;
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname + u.search, method: opts.method ?? 'GET', headers: headers.flat(), agent: opts.agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks), localPort }));
    });
    req.on('socket', (socket) => {
      const note = () => (localPort = socket.localPort!);
      if (socket.localPort) note();
      else socket.once('connect', note);
    });
    req.setTimeout(20_000, () => req.destroy(new Error(`${opts.method ?? 'GET'} ${url}: no answer in 20 s`)));
    req.on('error', reject);
    if (opts.chunked) {
      for (const c of opts.chunked) req.write(c);
      req.end();
    } else req.end(opts.body);
  });
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const json = (r: Reply) => JSON.parse(r.body.toString()) as { method: string; url: string; headers: Record<string, string>; remoteAddress: string; remotePort: number; size: number; sha256: string };

/** Every case below, once per front end. */
function each(title: string, run: (t: import('ava').ExecutionContext, front: FrontEnd) => Promise<void>): void {
  for (const index of [0, 1, 2, 3, 4, 5]) {
    test(`${title} [front end ${index + 1}]`, async (t) => {
      const front = fronts[index];
      t.log(front.name);
      await run(t, front);
    });
  }
}

each('GET with a query: raw request target, client address and port as the front end saw them', async (t, front) => {
  const target = '/echo/some%20path/x.html?a=1&b=two%20words&c';
  const r = await request(front.baseUrl + target, { headers: [['X-Custom', 'yes']] });
  t.is(r.status, 200, r.body.toString());
  const seen = json(r);
  t.is(seen.method, 'GET');
  t.is(seen.url, target);
  t.is(seen.headers['x-custom'], 'yes');
  t.is(seen.headers.host, front.host(new URL(front.baseUrl).host));
  t.is(seen.remoteAddress, '127.0.0.1');
  t.is(seen.remotePort, front.remotePort(r.localPort), `client port ${r.localPort}`);
});

each('POST with a Content-Length body: every byte arrives (sha256)', async (t, front) => {
  const body = randomBytes(3 * 1024 * 1024 + 17);
  const r = await request(`${front.baseUrl}/echo`, { method: 'POST', body, headers: [['Content-Type', 'application/octet-stream']] });
  t.is(r.status, 200, r.body.toString());
  const seen = json(r);
  t.is(seen.size, body.length);
  t.is(seen.sha256, sha256(body));
  t.is(seen.headers['content-type'], 'application/octet-stream');
});

each('POST with a chunked body: de-chunked by nginx, 411 from Apache, dropped by the router', async (t, front) => {
  const parts = [randomBytes(5000), randomBytes(70_000), Buffer.from('end')];
  const r = await request(`${front.baseUrl}/echo`, { method: 'POST', chunked: parts });
  if (front.chunkedUpload === 411) {
    t.is(r.status, 411);
    return;
  }
  t.is(r.status, 200, r.body.toString());
  const seen = json(r);
  if (front.chunkedUpload === 'de-chunked') {
    const all = Buffer.concat(parts);
    t.is(seen.size, all.length);
    t.is(seen.sha256, sha256(all));
    t.false('transfer-encoding' in seen.headers);
  } else {
    t.is(seen.size, 0);
  }
});

each('HEAD: the head, no body', async (t, front) => {
  const r = await request(`${front.baseUrl}/echo`, { method: 'HEAD' });
  t.is(r.status, 200);
  t.is(r.headers['content-type'], 'application/json');
  t.is(r.body.length, 0);
});

each('statuses pass through, 204/304 without a body; an exception is a complete 500', async (t, front) => {
  for (const code of [201, 204, 304, 404, 418, 503]) {
    const r = await request(`${front.baseUrl}/status/${code}`);
    t.is(r.status, code);
    t.is(r.body.toString(), code === 204 || code === 304 ? '' : `status ${code}\n`, `status ${code}`);
  }
  const thrown = await request(`${front.baseUrl}/throw`);
  t.is(thrown.status, 500);
  t.regex(thrown.body.toString(), /500 Internal Server Error/);
  // An app that writes no header at all still gives the router (which relays bytes as they
  // are) and Apache (which needs a status line) a complete HTTP response.
  const bare = await request(`${front.baseUrl}/bare`);
  t.is(bare.status, 200);
  t.is(bare.body.length, 0);
});

each('three Set-Cookie lines stay three; a repeated response header stays repeated', async (t, front) => {
  const r = await request(`${front.baseUrl}/cookies`);
  t.is(r.status, 200);
  t.deepEqual(r.headers['set-cookie'], ['a=1; Path=/', 'b=2; HttpOnly', 'c=3; Max-Age=60']);
  t.is(r.headers['x-multi'], 'one, two');
});

each('repeated request headers: joined with ", ", Cookie as the front end joins it', async (t, front) => {
  const r = await request(`${front.baseUrl}/echo`, {
    headers: [
      ['X-Dup', '1'],
      ['X-Dup', '2'],
      ['Cookie', 'a=1'],
      ['Cookie', 'b=2'],
    ],
  });
  t.is(r.status, 200);
  const seen = json(r);
  t.is(seen.headers['x-dup'], '1, 2');
  t.is(seen.headers.cookie, front.cookies);
});

each('a 24 MiB streamed download arrives whole (end of body = close)', async (t, front) => {
  const chunks = 384;
  const r = await request(`${front.baseUrl}/big?chunks=${chunks}`);
  t.is(r.status, 200);
  const expected = createHash('sha256');
  for (let i = 0; i < chunks; i++) expected.update(Buffer.alloc(64 * 1024, (i * 7 + 3) & 0xff));
  t.is(r.body.length, chunks * 64 * 1024);
  t.is(sha256(r.body), expected.digest('hex'));
});

each('a keep-alive client: each response ends although nuwsgi closes every uwsgi connection', async (t, front) => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  for (let i = 0; i < 3; i++) {
    const r = await request(`${front.baseUrl}/echo?i=${i}`, { agent });
    t.is(r.status, 200);
    t.is(json(r).url, `/echo?i=${i}`);
  }
});
