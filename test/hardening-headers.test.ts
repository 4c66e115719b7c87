// Response headers an app sets that would break the front end (protocol.md §5, node-ecosystem.md
// §2.3-2.4). Each case of test/apps/hard-app.mjs HEADER_CASES is requested on the uwsgi socket
// itself, so the test sees exactly the bytes nuwsgi writes (nginx would hide some of them):
// - CR/LF (header injection), a bad header name, a bad or interim status: Node throws; nuwsgi
//   answers 500 instead, logs why, and the worker goes on (even when the throw would have been
//   in a timer callback, where it would be an uncaught exception).
// - hop-by-hop headers (Connection, Keep-Alive, Transfer-Encoding, Upgrade, TE, Trailer,
//   Proxy-Connection) and a CGI `Status:` header: dropped, the rest of the response intact.
// - a Content-Length that is not one number: dropped (close-delimited); duplicates collapsed.

import test from 'ava';
import { spawnedWorkers } from './helpers/lifecycle.js';
import { httpRequest, startNginx, type NginxInstance } from './helpers/nginx.js';
import { parseResponse, rawUwsgi, requestVars, uwsgiPacket } from './helpers/hardening.js';
import { startServer, type ServerInstance } from './helpers/server.js';

let server: ServerInstance;
let nginx: NginxInstance;
let workerPids: number[];

test.before(async () => {
  server = await startServer({ app: 'hard-app.mjs', args: ['--processes', '1', '--disable-logging'] });
  nginx = await startNginx({ upstream: server.upstream });
  workerPids = spawnedWorkers(server.output()).map((w) => w.pid);
});

test.after.always(async () => {
  await nginx?.stop();
  await server?.stop('SIGTERM');
});

const fetchCase = async (name: string) => {
  // No half-close: like nginx, which only ever closes fully (a FIN aborts the request, as in http.Server).
  const { reply } = await rawUwsgi(server.socket, uwsgiPacket(requestVars('GET', `/hdr/${name}`)));
  return { raw: reply.toString('latin1'), res: parseResponse(reply) };
};

const HOP = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'status'];

const REFUSED: [string, RegExp][] = [
  ['crlf-set', /ERR_INVALID_CHAR: header "X-Bad" has CR, LF/],
  ['crlf-callback', /ERR_INVALID_CHAR: header "Location" has CR, LF/],
  ['crlf-async', /ERR_INVALID_CHAR: header "X-Bad"/],
  ['crlf-writehead', /ERR_INVALID_CHAR/],
  ['crlf-writehead-array', /ERR_INVALID_CHAR: header "X-Bad"/],
  ['crlf-append', /ERR_INVALID_CHAR: header "Set-Cookie"/],
  ['crlf-status-message', /ERR_INVALID_CHAR/],
  ['crlf-status-property', /ERR_INVALID_CHAR/],
  ['bad-name', /ERR_INVALID_HTTP_TOKEN: invalid header name/],
  ['crlf-caught', /ERR_INVALID_CHAR: header "X-Bad"/],
  ['bad-status', /ERR_HTTP_INVALID_STATUS_CODE/],
  ['interim-final', /status 103 is interim, not a final answer/],
  ['switch-without-upgrade', /status 101 is interim, not a final answer/],
];

for (const [name, why] of REFUSED) {
  test.serial(`${name}: 500 with no body, nothing injected, logged, same worker`, async (t) => {
    const mark = server.output().length;
    const { raw, res } = await fetchCase(name);
    t.is(res.statusLine, 'HTTP/1.1 500 Internal Server Error');
    t.is(res.header('content-length'), '0');
    t.is(res.body.length, 0, 'the body the app wrote is dropped');
    t.notRegex(raw, /X-Injected|evil=1|must not be seen|X-Bad|Link:/i);
    await server.waitFor(new RegExp(`GET /hdr/${name}: the app's response cannot be sent \\(`));
    const line = server.output().slice(mark).split('\n').find((l) => l.includes(`/hdr/${name}:`))!;
    t.regex(line, why);
    t.regex(line, /-- answering 500 instead$/);
    t.deepEqual(spawnedWorkers(server.output()).map((w) => w.pid), workerPids);
  });
}

test.serial('hop-by-hop and Status headers set with setHeader are dropped; the others and the body are intact', async (t) => {
  const { res } = await fetchCase('hop-set');
  t.is(res.statusLine, 'HTTP/1.1 200 OK');
  for (const name of HOP) t.is(res.header(name), undefined, name);
  t.is(res.header('x-secret'), 'kept');
  t.is(res.header('content-type'), 'text/plain');
  t.is(res.header('content-length'), '3');
  t.is(res.body.toString(), 'hop');
});

for (const name of ['hop-writehead', 'hop-raw', 'hop-nested']) {
  test.serial(`${name}: hop-by-hop and Status headers given to writeHead are dropped (only nuwsgi's own Connection: close)`, async (t) => {
    const { res } = await fetchCase(name);
    t.is(res.statusLine, 'HTTP/1.1 200 OK');
    for (const h of HOP) {
      if (h === 'connection') t.true([undefined, 'close'].includes(res.header(h)), `connection: ${res.header(h)}`);
      else t.is(res.header(h), undefined, h);
    }
    t.is(res.body.toString(), 'hop');
    if (name === 'hop-raw') t.deepEqual(res.headers.filter(([k]) => k === 'set-cookie').map(([, v]) => v), ['a=1', 'b=2']);
  });
}

test.serial('426 Upgrade Required keeps its Upgrade header (it is end to end there), not the app\'s Connection', async (t) => {
  const { res } = await fetchCase('upgrade-required');
  t.is(res.statusLine, 'HTTP/1.1 426 Upgrade Required');
  t.is(res.header('upgrade'), 'websocket');
  t.not(res.header('connection'), 'Upgrade');
  t.is(res.body.toString(), 'upgrade please');
});

test.serial('a Content-Length that is not a number is dropped: the body goes close-delimited, whole', async (t) => {
  const { res } = await fetchCase('cl-invalid');
  t.is(res.status, 200);
  t.is(res.header('content-length'), undefined);
  t.is(res.body.toString(), '12345');
});

test.serial('a repeated equal Content-Length becomes one; conflicting ones are dropped', async (t) => {
  const dup = await fetchCase('cl-duplicate');
  t.deepEqual(dup.res.headers.filter(([k]) => k === 'content-length'), [['content-length', '5']]);
  t.is(dup.res.body.toString(), '12345');
  const conflict = await fetchCase('cl-conflict');
  t.is(conflict.res.header('content-length'), undefined);
  t.is(conflict.res.body.toString(), '12345');
});

test.serial('through nginx: an injection in a callback gives the client a 500 (not a hang), a CGI Status header never reaches it', async (t) => {
  const injected = await httpRequest({ method: 'GET', url: `${nginx.baseUrl}/hdr/crlf-callback`, timeoutMs: 15_000 });
  t.is(injected.status, 500);
  t.is(injected.headers['set-cookie'], undefined);
  t.is(injected.headers.location, undefined);
  const hop = await httpRequest({ method: 'GET', url: `${nginx.baseUrl}/hdr/hop-set`, timeoutMs: 15_000 });
  t.is(hop.status, 200);
  t.is(hop.headers.status, undefined);
  t.is(hop.headers.upgrade, undefined);
  t.is(hop.body.toString(), 'hop');
});

test.serial('after every case: the same worker, no uncaught exception, no crash, nginx saw nothing invalid', (t) => {
  t.deepEqual(spawnedWorkers(server.output()).map((w) => w.pid), workerPids);
  t.notRegex(server.output(), /DAMN|uncaught exception|unhandled promise rejection/);
  t.notRegex(nginx.errorLog(), /upstream sent invalid|prematurely closed|reset by peer/);
});
