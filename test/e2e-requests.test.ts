// End to end, request side: a real client -> nginx 1.22 (uwsgi_pass unix:) -> the nuwsgi CLI ->
// test/apps/echo.mjs, which reports what the Node app saw. One server and one nginx for the
// file; a second location on the same nginx sends `HTTPS on` like a TLS vhost would.

import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { httpRequest, rawHttp, startNginx, type HttpResponse, type NginxInstance } from './helpers/nginx.js';
import { startServer, type ServerInstance } from './helpers/server.js';

interface Echo {
  method: string;
  url: string;
  pathInfo?: string;
  httpVersion: string;
  headers: Record<string, string | undefined>;
  rawHeaders: string[];
  remoteAddress: string;
  remotePort: number;
  encrypted: boolean;
  protocol: string;
  complete: boolean;
  bodyLength: number;
  body: string;
  pid: number;
}

const STOCK_UWSGI_PARAMS = [
  'QUERY_STRING $query_string',
  'REQUEST_METHOD $request_method',
  'CONTENT_TYPE $content_type',
  'CONTENT_LENGTH $content_length',
  'REQUEST_URI $request_uri',
  'PATH_INFO $document_uri',
  'DOCUMENT_ROOT $document_root',
  'SERVER_PROTOCOL $server_protocol',
  'REQUEST_SCHEME $scheme',
  'HTTPS $https if_not_empty',
  'REMOTE_ADDR $remote_addr',
  'REMOTE_PORT $remote_port',
  'SERVER_PORT $server_port',
  'SERVER_NAME $server_name',
]
  .map((p) => `            uwsgi_param ${p};`)
  .join('\n');

let server: ServerInstance;
let nginx: NginxInstance;

test.before(async () => {
  // A short socket-timeout, so the late-reader test shows it only times the front end.
  server = await startServer({ app: 'echo.mjs', args: ['--socket-timeout', '1'] });
  nginx = await startNginx({
    upstream: server.upstream,
    serverExtra: `
        large_client_header_buffers 4 64k;
        location /tls/ {
            include /etc/nginx/uwsgi_params;
            uwsgi_pass ${server.upstream};
            uwsgi_param HTTPS on;
        }
        # Upstream nginx's stock uwsgi_params: no HTTP_HOST line, so a client without Host
        # sends none and the bridge's SERVER_NAME:SERVER_PORT fallback is what the app sees.
        location /stock/ {
${STOCK_UWSGI_PARAMS}
            uwsgi_pass ${server.upstream};
        }`,
  });
});

test.after.always(async () => {
  await nginx?.stop();
  await server?.stop();
});

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function echoOf(t: { is(a: unknown, b: unknown, m?: string): void }, res: HttpResponse): Echo {
  t.is(res.status, 200, `status (body: ${res.body.subarray(0, 200).toString()})`);
  return JSON.parse(res.body.toString('utf8')) as Echo;
}

/** Split a raw HTTP/1.x response read until close; de-chunks if nginx chunked it. */
function parseRaw(bytes: Buffer): { statusLine: string; headers: Map<string, string>; body: Buffer } {
  const end = bytes.indexOf('\r\n\r\n');
  const lines = bytes.subarray(0, end).toString('latin1').split('\r\n');
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
  }
  let body = bytes.subarray(end + 4);
  if (headers.get('transfer-encoding') === 'chunked') {
    const parts: Buffer[] = [];
    let at = 0;
    for (;;) {
      const nl = body.indexOf('\r\n', at);
      const size = parseInt(body.subarray(at, nl).toString('latin1'), 16);
      if (size === 0) break;
      parts.push(body.subarray(nl + 2, nl + 2 + size));
      at = nl + 2 + size + 2;
    }
    body = Buffer.concat(parts);
  }
  return { statusLine: lines[0], headers, body };
}

// The file's tests share one server and nginx; serial keeps the log assertions unambiguous.

for (const method of ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
  test.serial(`method ${method} reaches the app with its body`, async (t) => {
    const body = method === 'GET' || method === 'OPTIONS' ? undefined : `payload for ${method}`;
    const res = await httpRequest({ method, url: `${nginx.baseUrl}/m/${method.toLowerCase()}`, body, headers: body ? { 'Content-Type': 'text/plain' } : {} });
    const echo = echoOf(t, res);
    t.is(echo.method, method);
    t.is(echo.url, `/m/${method.toLowerCase()}`);
    t.is(echo.httpVersion, '1.1');
    t.is(echo.body, body ?? '');
    t.is(echo.bodyLength, body?.length ?? 0);
    if (body) {
      t.is(echo.headers['content-length'], String(body.length));
      t.is(echo.headers['content-type'], 'text/plain');
    }
    t.true(echo.complete);
  });
}

test.serial('query string reaches req.url byte for byte', async (t) => {
  const target = '/search?q=two%20words&empty=&plus=a+b&check=%E2%9C%93&dup=1&dup=2&slash=%2F#';
  // A fragment never goes on the wire; node:http sends what we give it, nginx keeps it in the URI.
  const sent = target.slice(0, -1);
  const echo = echoOf(t, await httpRequest({ method: 'GET', url: `${nginx.baseUrl}${sent}` }));
  t.is(echo.url, sent);
});

test.serial('percent-encoded path: req.url is the raw REQUEST_URI, not the decoded PATH_INFO', async (t) => {
  const target = '/files/a%2Fb/caf%C3%A9/%41%42//x%20y?next=%2Fhome';
  const echo = echoOf(t, await httpRequest({ method: 'GET', url: `${nginx.baseUrl}${target}` }));
  t.is(echo.url, target);
  // What nginx's $document_uri made of it, to show the difference is real.
  t.not(echo.pathInfo, undefined);
  t.not(echo.pathInfo, target.split('?')[0]);
  t.false(echo.pathInfo!.includes('%'));
});

test.serial('raw UTF-8 path bytes reach req.url as Node http presents them (latin1, byte for byte)', async (t) => {
  const path = '/ünïcödé/日本?q=✓';
  const raw = await rawHttp(nginx.port, Buffer.concat([Buffer.from('GET '), Buffer.from(path, 'utf8'), Buffer.from(' HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n')]));
  const { statusLine, body } = parseRaw(raw);
  t.regex(statusLine, /^HTTP\/1\.1 200 OK$/);
  const echo = JSON.parse(body.toString('utf8')) as Echo;
  t.deepEqual(Buffer.from(echo.url, 'latin1'), Buffer.from(path, 'utf8'));
  // An app recovering the text the usual way gets the original characters back.
  t.is(Buffer.from(echo.url, 'latin1').toString('utf8'), path);
});

test.serial('10-byte body', async (t) => {
  const echo = echoOf(t, await httpRequest({ method: 'POST', url: `${nginx.baseUrl}/ten`, body: '0123456789' }));
  t.is(echo.bodyLength, 10);
  t.is(echo.body, '0123456789');
  t.is(echo.headers['content-length'], '10');
});

test.serial('5 MiB body arrives intact (sha256)', async (t) => {
  const body = randomBytes(5 * 1024 * 1024);
  const res = await httpRequest({ method: 'POST', url: `${nginx.baseUrl}/sha256`, body, headers: { 'Content-Type': 'application/octet-stream' } });
  t.is(res.status, 200);
  t.deepEqual(JSON.parse(res.body.toString()), { size: body.length, sha256: sha256(body) });
});

test.serial('an app that starts reading a 5 MiB body after socket-timeout still gets all of it', async (t) => {
  // Back-pressure pauses the connection while the app is busy; that is not a stalled front end.
  const body = randomBytes(5 * 1024 * 1024);
  const res = await httpRequest({ method: 'POST', url: `${nginx.baseUrl}/sha256?delay=1500`, body });
  t.is(res.status, 200);
  t.deepEqual(JSON.parse(res.body.toString()), { size: body.length, sha256: sha256(body) });
  t.notRegex(server.output(), /stalled/);
});

test.serial('empty-body POST: Content-Length 0, end of body at once', async (t) => {
  const echo = echoOf(t, await httpRequest({ method: 'POST', url: `${nginx.baseUrl}/empty`, body: '' }));
  t.is(echo.method, 'POST');
  t.is(echo.bodyLength, 0);
  t.is(echo.headers['content-length'], '0');
  t.true(echo.complete);
});

test.serial('chunked client upload: the app sees the de-chunked body and a Content-Length, no Transfer-Encoding', async (t) => {
  const request =
    'POST /chunked-upload HTTP/1.1\r\nHost: app.test\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n' +
    '5\r\nhello\r\n1\r\n,\r\n6\r\n world\r\n0\r\n\r\n';
  const { statusLine, body } = parseRaw(await rawHttp(nginx.port, request));
  t.is(statusLine, 'HTTP/1.1 200 OK');
  const echo = JSON.parse(body.toString()) as Echo;
  t.is(echo.body, 'hello, world');
  t.is(echo.bodyLength, 12);
  t.is(echo.headers['content-length'], '12');
  t.is(echo.headers['transfer-encoding'], undefined);
  t.is(echo.headers['content-type'], 'text/plain');
});

test.serial('HEAD: status and headers, no body', async (t) => {
  const res = await httpRequest({ method: 'HEAD', url: `${nginx.baseUrl}/head` });
  t.is(res.status, 200);
  t.is(res.headers['content-type'], 'application/json');
  t.is(res.body.length, 0);
  // The connection was not poisoned: the next request on the same server works.
  t.is(echoOf(t, await httpRequest({ method: 'GET', url: `${nginx.baseUrl}/after-head` })).url, '/after-head');
});

test.serial('100 request headers all arrive', async (t) => {
  const rawHeaders: [string, string][] = [];
  for (let i = 0; i < 100; i++) rawHeaders.push([`X-Header-${i}`, `value-${i}`]);
  const echo = echoOf(t, await httpRequest({ method: 'GET', url: `${nginx.baseUrl}/many`, rawHeaders }));
  for (let i = 0; i < 100; i++) t.is(echo.headers[`x-header-${i}`], `value-${i}`);
  t.is(Object.keys(echo.headers).filter((k) => k.startsWith('x-header-')).length, 100);
});

test.serial('duplicate request headers: Cookie merged with "; ", others with ", "', async (t) => {
  const echo = echoOf(
    t,
    await httpRequest({
      method: 'GET',
      url: `${nginx.baseUrl}/dups`,
      rawHeaders: [
        ['Cookie', 'a=1'],
        ['X-Dup', 'first'],
        ['Cookie', 'b=2; c=3'],
        ['Accept', 'text/html'],
        ['X-Dup', 'second'],
        ['Accept', 'application/json'],
      ],
    }),
  );
  t.is(echo.headers.cookie, 'a=1; b=2; c=3');
  t.is(echo.headers['x-dup'], 'first, second');
  t.is(echo.headers.accept, 'text/html, application/json');
  // One rawHeaders entry per name, as Node's parser gives for a client that sent them joined.
  t.is(echo.rawHeaders.filter((h) => h.toLowerCase() === 'cookie').length, 1);
});

test.serial('a 20 KiB header value arrives whole', async (t) => {
  const value = 'v'.repeat(20 * 1024 - 8) + '-the-end';
  t.is(value.length, 20 * 1024);
  const echo = echoOf(t, await httpRequest({ method: 'GET', url: `${nginx.baseUrl}/long-header`, headers: { 'X-Long': value } }));
  t.is(echo.headers['x-long'], value);
});

test.serial('HTTP/1.0 without Host: the app still gets a Host header and HTTP/1.0', async (t) => {
  const { statusLine, body } = parseRaw(await rawHttp(nginx.port, 'GET /old-client?x=1 HTTP/1.0\r\n\r\n'));
  t.regex(statusLine, /^HTTP\/1\.1 200 OK$/);
  const echo = JSON.parse(body.toString()) as Echo;
  t.is(echo.httpVersion, '1.0');
  t.is(echo.url, '/old-client?x=1');
  t.is(echo.headers.host, 'nuwsgi.test'); // nginx's $host falls back to server_name
});

test.serial('HTTP/1.0 without Host behind stock uwsgi_params (no HTTP_HOST): Host falls back to SERVER_NAME:SERVER_PORT', async (t) => {
  const { statusLine, body } = parseRaw(await rawHttp(nginx.port, 'GET /stock/old HTTP/1.0\r\n\r\n'));
  t.is(statusLine, 'HTTP/1.1 200 OK');
  const echo = JSON.parse(body.toString()) as Echo;
  t.is(echo.headers.host, `nuwsgi.test:${nginx.port}`);
  // With a Host from the client, that one is passed through as is.
  const withHost = echoOf(t, await httpRequest({ method: 'GET', url: `${nginx.baseUrl}/stock/new`, headers: { Host: 'example.test:8443' } }));
  t.is(withHost.headers.host, 'example.test:8443');
});

test.serial('req.socket.remoteAddress is the client address, not the unix socket', async (t) => {
  const echo = echoOf(t, await httpRequest({ method: 'GET', url: `${nginx.baseUrl}/who` }));
  t.is(echo.remoteAddress, '127.0.0.1');
  t.true(Number.isInteger(echo.remotePort) && echo.remotePort > 0 && echo.remotePort !== nginx.port);
  t.false(echo.encrypted);
  t.is(echo.protocol, 'http');
});

test.serial('HTTPS on from the vhost: socket.encrypted, so req.protocol is https', async (t) => {
  const echo = echoOf(t, await httpRequest({ method: 'GET', url: `${nginx.baseUrl}/tls/who` }));
  t.is(echo.url, '/tls/who');
  t.true(echo.encrypted);
  t.is(echo.protocol, 'https');
});

test.serial('nothing above went wrong on either side', (t) => {
  t.notRegex(nginx.errorLog(), /\[(error|crit|alert|emerg)\]/, nginx.errorLog());
  t.notRegex(server.output(), /exception|DAMN|invalid|closing connection/i, server.output());
  // Everything was served by the one worker the server started with.
  t.regex(server.output(), /spawned nuwsgi worker 1 \(pid: \d+\)/);
  t.notRegex(server.output(), /spawned nuwsgi worker 1 \(pid: \d+\)[\s\S]*spawned nuwsgi worker 1/);
});
