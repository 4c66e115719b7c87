// End to end, response side: what a client gets through nginx 1.22 (uwsgi_pass unix:) for each
// way a Node app can answer. Three nuwsgi servers (a (req, res) app, a Fetch handler, a CommonJS
// app) behind one nginx: location / -> test/apps/responses.mjs, /fetch/ -> fetch.mjs,
// /cjs/ -> cjs-app.cjs. Tests are serial: the process.exit test takes the worker down.

import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { httpRequest, rawHttp, startNginx, type NginxInstance } from './helpers/nginx.js';
import { startServer, type ServerInstance } from './helpers/server.js';

let server: ServerInstance;
let fetchServer: ServerInstance;
let cjsServer: ServerInstance;
let nginx: NginxInstance;

const location = (prefix: string, upstream: string) => `
        location ${prefix} {
            include /etc/nginx/uwsgi_params;
            uwsgi_pass ${upstream};
        }`;

test.before(async () => {
  [server, fetchServer, cjsServer] = await Promise.all([
    startServer({ app: 'responses.mjs' }),
    startServer({ app: 'fetch.mjs' }),
    startServer({ app: 'cjs-app.cjs' }),
  ]);
  nginx = await startNginx({
    upstream: server.upstream,
    serverExtra: location('/fetch/', fetchServer.upstream) + location('/cjs/', cjsServer.upstream),
  });
});

test.after.always(async () => {
  await nginx?.stop();
  await Promise.all([server?.stop(), fetchServer?.stop(), cjsServer?.stop()]);
});

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const get = (path: string) => httpRequest({ method: 'GET', url: `${nginx.baseUrl}${path}` });

interface RawResponse {
  statusLine: string;
  headers: [string, string][];
  header(name: string): string | undefined;
  /** Body bytes as sent on the wire (still chunked if nginx chunked it). */
  wire: Buffer;
  /** Body after removing nginx's own chunked framing, if any. */
  body: Buffer;
}

/** One request on a raw connection (Connection: close), read until nginx closes it. */
async function raw(method: string, path: string): Promise<RawResponse> {
  const bytes = await rawHttp(nginx.port, `${method} ${path} HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n`);
  const end = bytes.indexOf('\r\n\r\n');
  const lines = bytes.subarray(0, end).toString('latin1').split('\r\n');
  const headers = lines.slice(1).map((l): [string, string] => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]);
  const header = (name: string) => headers.find(([k]) => k === name)?.[1];
  const wire = bytes.subarray(end + 4);
  let body = wire;
  if (header('transfer-encoding') === 'chunked') {
    const parts: Buffer[] = [];
    for (let at = 0; ; ) {
      const nl = wire.indexOf('\r\n', at);
      const size = parseInt(wire.subarray(at, nl).toString('latin1'), 16);
      if (!(size > 0)) break;
      parts.push(wire.subarray(nl + 2, nl + 2 + size));
      at = nl + 2 + size + 2;
    }
    body = Buffer.concat(parts);
  }
  return { statusLine: lines[0], headers, header, wire, body };
}

/** Poll until `path` answers 200, bounded; returns the response. */
async function until200(path: string, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await get(path).catch(() => undefined);
    if (res?.status === 200) return res;
    if (Date.now() > deadline) throw new Error(`${path} did not answer 200 within ${timeoutMs} ms (last: ${res?.status})`);
    await sleep(100);
  }
}

// ---- statuses -------------------------------------------------------------------------------

for (const [code, reason, hasBody] of [
  [201, 'Created', true],
  [204, 'No Content', false],
  [304, 'Not Modified', false],
  [404, 'Not Found', true],
  [500, 'Internal Server Error', true],
] as const) {
  test.serial(`status ${code} ${reason}${hasBody ? '' : ', no body'}`, async (t) => {
    const res = await raw('GET', `/status/${code}`);
    t.is(res.statusLine, `HTTP/1.1 ${code} ${reason}`);
    if (hasBody) {
      // writeHead() sends the head before end(body), so the length is not known: close-delimited.
      t.is(res.body.toString(), `status ${code}\n`);
    } else {
      t.is(res.wire.length, 0, 'no body bytes at all');
      t.is(res.header('content-length'), undefined);
      t.is(res.header('transfer-encoding'), undefined);
    }
    if (code === 304) t.is(res.header('etag'), '"v1"');
  });
}

// ---- bodies ---------------------------------------------------------------------------------

/** Same as bigBlock() in test/apps/responses.mjs. */
function bigBlock(i: number): Buffer {
  const block = Buffer.alloc(65536, i & 0xff);
  block.writeUInt32BE(i, 0);
  return block;
}

test.serial('64 MiB download streamed with pipe: full length, right bytes, no hang', async (t) => {
  const blocks = 1024;
  const expected = createHash('sha256');
  for (let i = 0; i < blocks; i++) expected.update(bigBlock(i));
  const started = Date.now();
  const got = await new Promise<{ status: number; length?: string; size: number; sha: string }>((resolve, reject) => {
    const req = http.get(`${nginx.baseUrl}/big?blocks=${blocks}`, { agent: false }, (res) => {
      const hash = createHash('sha256');
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        hash.update(c);
      });
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode!, length: res.headers['content-length'], size, sha: hash.digest('hex') }));
    });
    // Without drain forwarding the transfer stops at the first full socket buffer: fail fast.
    req.setTimeout(20_000, () => req.destroy(new Error('64 MiB download stalled (drain not forwarded?)')));
    req.on('error', reject);
  });
  t.is(got.status, 200);
  t.is(got.length, String(blocks * 65536));
  t.is(got.size, blocks * 65536);
  t.is(got.sha, expected.digest('hex'));
  t.log(`64 MiB in ${Date.now() - started} ms`);
});

test.serial('streamed response without Content-Length: exact bytes, no chunk framing in the body', async (t) => {
  const expected = 'alpha\nbeta\ngamma\ndelta\n';
  const res = await get('/stream');
  t.is(res.status, 200);
  t.is(res.body.toString('latin1'), expected);
  t.is(res.headers['content-length'], undefined);
  // On the wire: exactly one layer of chunking, nginx's own towards the HTTP/1.1 client.
  const r = await raw('GET', '/stream');
  t.is(r.header('transfer-encoding'), 'chunked');
  t.is(r.body.toString('latin1'), expected);
});

test.serial('res.end(body) gets a Content-Length', async (t) => {
  const r = await raw('GET', '/end');
  t.is(r.statusLine, 'HTTP/1.1 200 OK');
  t.is(r.header('content-length'), '11');
  t.is(r.header('transfer-encoding'), undefined);
  t.is(r.wire.toString(), 'hello world');
});

for (const route of ['/cookies-set', '/cookies-raw']) {
  test.serial(`three Set-Cookie headers preserved (${route === '/cookies-set' ? 'setHeader array' : 'writeHead raw array'})`, async (t) => {
    const res = await get(route);
    t.is(res.status, 200);
    t.deepEqual(res.headers['set-cookie'], ['a=1; Path=/', 'b=2; HttpOnly', 'c=3']);
    t.is(res.body.toString(), 'cookies');
  });
}

for (const [route, expected] of [
  ['/te-set', 'one\ntwo\nthree\n'],
  ['/te-writehead', 'one\ntwo\nthree\n'],
  ['/te-raw', 'one\ntwo\n'],
] as const) {
  test.serial(`app sets Transfer-Encoding: chunked itself (${route}): body is still clean`, async (t) => {
    const res = await get(route);
    t.is(res.status, 200);
    t.is(res.body.toString('latin1'), expected);
    const r = await raw('GET', route);
    t.is(r.body.toString('latin1'), expected, `wire: ${JSON.stringify(r.wire.toString('latin1'))}`);
  });
}

test.serial('writeEarlyHints/writeContinue/writeProcessing produce no interim response at the client', async (t) => {
  const bytes = await rawHttp(nginx.port, 'GET /hints HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n');
  const text = bytes.toString('latin1');
  t.regex(text, /^HTTP\/1\.1 200 OK\r\n/);
  t.notRegex(text, /HTTP\/1\.1 1\d\d/);
  t.false(text.toLowerCase().includes('style.css'), 'no Link header from the dropped 103');
  const r = await raw('GET', '/hints');
  t.is(r.body.toString(), 'after hints (callback ran: true)');
});

// ---- failures -------------------------------------------------------------------------------

test.serial('handler throws synchronously: 500, logged, and the same worker serves the next request', async (t) => {
  const before = (await get('/pid')).body.toString();
  const r = await raw('GET', '/throw');
  t.is(r.statusLine, 'HTTP/1.1 500 Internal Server Error');
  t.is(r.body.toString(), '500 Internal Server Error\n');
  await server.waitFor(/exception in the app while handling GET \/throw: Error: boom-sync/, 5000);
  const after = await get('/pid');
  t.is(after.status, 200);
  t.is(after.body.toString(), before, 'same worker process');
});

test.serial('async handler rejects: 500, logged', async (t) => {
  const r = await raw('GET', '/reject');
  t.is(r.statusLine, 'HTTP/1.1 500 Internal Server Error');
  t.is(r.body.toString(), '500 Internal Server Error\n');
  await server.waitFor(/exception in the app while handling GET \/reject: Error: boom-async/, 5000);
  t.is((await get('/end')).status, 200);
});

test.serial('handler calls process.exit(): that request gets 502, then the worker is respawned and serves again', async (t) => {
  const oldPid = (await get('/pid')).body.toString();
  const res = await get('/exit');
  t.is(res.status, 502);
  t.regex(nginx.errorLog(), /upstream prematurely closed connection while reading response header from upstream/);
  await server.waitFor(new RegExp(`DAMN ! worker 1 \\(pid: ${oldPid}\\) died, exit code 3`), 5000);
  const after = await until200('/pid', 15_000);
  t.not(after.body.toString(), oldPid, 'a new worker process');
  t.regex(server.output(), new RegExp(`spawned nuwsgi worker 1 \\(pid: ${after.body.toString()}\\)`));
  t.is((await get('/end')).body.toString(), 'hello world');
});

// ---- other app shapes -----------------------------------------------------------------------

test.serial('Fetch handler: JSON response', async (t) => {
  const res = await get('/fetch/json?q=hi%20there');
  t.is(res.status, 200);
  t.regex(String(res.headers['content-type']), /^application\/json/);
  const json = JSON.parse(res.body.toString());
  t.is(json.method, 'GET');
  t.is(json.search, 'hi there');
  t.regex(json.url, /^http:\/\/[^/]+\/fetch\/json\?q=hi%20there$/);
  t.regex(fetchServer.output(), /\(fetch handler\) ready/);
});

test.serial('Fetch handler: reads a POST body', async (t) => {
  const body = randomBytes(1024 * 1024);
  const res = await httpRequest({ method: 'POST', url: `${nginx.baseUrl}/fetch/echo`, body, headers: { 'Content-Type': 'application/octet-stream' } });
  t.is(res.status, 200);
  const json = JSON.parse(res.body.toString());
  t.is(json.method, 'POST');
  t.is(json.contentType, 'application/octet-stream');
  t.is(json.length, body.length, `the app read ${json.length} of ${json.declaredLength} declared bytes`);
  t.is(json.sha256, sha256(body));
  const small = await httpRequest({ method: 'POST', url: `${nginx.baseUrl}/fetch/echo`, body: 'hello fetch', headers: { 'Content-Type': 'text/plain' } });
  t.is(JSON.parse(small.body.toString()).text, 'hello fetch');
});

test.serial('Fetch handler: two set-cookie headers and a status text', async (t) => {
  const r = await raw('GET', '/fetch/cookies');
  t.is(r.statusLine, 'HTTP/1.1 201 Created');
  t.deepEqual(
    r.headers.filter(([k]) => k === 'set-cookie').map(([, v]) => v),
    ['session=abc; Path=/; HttpOnly', 'theme=dark; Path=/'],
  );
  t.is(r.body.toString(), 'two cookies');
});

test.serial('CommonJS app in a .cjs file', async (t) => {
  const res = await get('/cjs/hello?x=1');
  t.is(res.status, 200);
  t.deepEqual(JSON.parse(res.body.toString()), {
    kind: 'cjs',
    method: 'GET',
    url: '/cjs/hello?x=1',
    size: 0,
    sha256: sha256(Buffer.alloc(0)),
    hasRequire: true,
  });
  const post = await httpRequest({ method: 'POST', url: `${nginx.baseUrl}/cjs/upload`, body: 'cjs body' });
  t.is(JSON.parse(post.body.toString()).sha256, sha256(Buffer.from('cjs body')));
  t.regex(cjsServer.output(), /cjs-app\.cjs \(node listener\) ready/);
});

test.serial('no unexpected errors in the logs', (t) => {
  // The process.exit test's 502 is the one expected nginx error.
  const errors = nginx
    .errorLog()
    .split('\n')
    .filter((l) => /\[(error|crit|alert|emerg)\]/.test(l) && !/upstream prematurely closed connection while reading response header[^\n]*"GET \/exit /.test(l));
  t.deepEqual(errors, []);
  for (const s of [fetchServer, cjsServer]) t.notRegex(s.output(), /exception|DAMN|closing connection/i, s.output());
});
