// Each framework example in examples/, unchanged, behind real nginx with both a plain and a TLS
// listener (so uwsgi_params sends HTTPS on for the latter). The client connects from 127.0.0.2
// and forges X-Forwarded-For / X-Forwarded-Proto: the app must see nginx's $remote_addr and the
// real scheme, without `trust proxy`. Plus WebSocket (ws) through nginx and the uWSGI router, and
// the clear refusal through Apache, which cannot carry an upgraded connection.
import test, { type ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startApache } from './helpers/apache.js';
import { shutdown } from './helpers/lifecycle.js';
import { freePort, startNginx } from './helpers/nginx.js';
import { startServer, type ServerInstance } from './helpers/server.js';
import { startRouter } from './helpers/uwsgi-router.js';
import { wsRoundTrip as wsFrom } from './helpers/ws.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const example = (rel: string) => path.join(ROOT, 'examples', rel);
const CLIENT_ADDRESS = '127.0.0.2';
const wsRoundTrip = (url: string) => wsFrom(url, CLIENT_ADDRESS);

let tls: { dir: string; cert: string; key: string };

test.before(() => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nuwsgi-tls-'));
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  // A throwaway self-signed certificate (Debian's openssl); the client does not verify it.
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=nuwsgi.test'], { stdio: 'ignore' });
  tls = { dir, cert, key };
});
test.after.always(() => {
  if (tls) rmSync(tls.dir, { recursive: true, force: true });
});

interface Stack {
  server: ServerInstance;
  http: string;
  https: string;
}

async function stack(t: ExecutionContext, app: string): Promise<Stack> {
  const server = await startServer({ app: example(app) });
  t.teardown(() => shutdown(server));
  const tlsPort = await freePort();
  const nginx = await startNginx({
    upstream: server.upstream,
    serverExtra: `listen 127.0.0.1:${tlsPort} ssl; ssl_certificate ${tls.cert}; ssl_certificate_key ${tls.key};`,
  });
  t.teardown(() => nginx.stop());
  return { server, http: nginx.baseUrl, https: `https://127.0.0.1:${tlsPort}` };
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function request(url: string, opts: { method?: string; json?: unknown; headers?: Record<string, string> } = {}): Promise<Reply> {
  const u = new URL(url);
  const body = opts.json === undefined ? undefined : JSON.stringify(opts.json);
  const headers: Record<string, string> = { ...opts.headers };
  if (body) Object.assign(headers, { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)) });
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(
      { host: u.hostname, port: u.port, path: u.pathname + u.search, method: opts.method ?? 'GET', headers, agent: false, localAddress: CLIENT_ADDRESS, rejectUnauthorized: false },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
        res.on('error', reject);
      },
    );
    req.setTimeout(15_000, () => req.destroy(new Error(`${url}: no answer in 15 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

const FORGED = { 'X-Forwarded-For': '203.0.113.7', 'X-Forwarded-Proto': 'http', 'X-Forwarded-Host': 'evil.example' };

/** The checks every framework gets: ip and scheme over http and https, a JSON POST, two cookies. */
async function common(t: ExecutionContext, s: Stack, id: Record<string, unknown>, reportsSecure = false): Promise<Record<string, unknown>> {
  const plain = await request(`${s.http}/info?a=1`, { headers: FORGED });
  t.is(plain.status, 200, plain.body);
  const p = JSON.parse(plain.body) as Record<string, unknown>;
  t.like(p, { ...id, ip: CLIENT_ADDRESS, protocol: 'http', ...(reportsSecure && { secure: false }) });
  const secure = await request(`${s.https}/info?a=1`, { headers: FORGED });
  t.is(secure.status, 200, secure.body);
  const q = JSON.parse(secure.body) as Record<string, unknown>;
  t.like(q, { ...id, ip: CLIENT_ADDRESS, protocol: 'https', ...(reportsSecure && { secure: true }) });
  const posted = await request(`${s.https}/json`, { method: 'POST', json: { hello: ['nuwsgi', 1] } });
  t.is(posted.status, 201, posted.body);
  t.deepEqual(JSON.parse(posted.body), { received: { hello: ['nuwsgi', 1] } });
  const cookies = await request(`${s.https}/cookies`);
  t.is(cookies.status, 200);
  const set = cookies.headers['set-cookie'] ?? [];
  t.is(set.length, 2, JSON.stringify(set));
  t.regex(set[0], /^session=abc;.*HttpOnly/i);
  t.regex(set[0], /Secure/i);
  t.regex(set[1], /^theme=dark/);
  return q;
}

test('Express 4 (module.exports = app): req.ip and req.protocol right behind nginx with HTTPS, no trust proxy', async (t) => {
  const s = await stack(t, 'express4/app.cjs');
  const info = await common(t, s, { express: 4 }, true);
  t.is(info.hostname, '127.0.0.1'); // forged X-Forwarded-Host ignored too
  // Express 4's "extended" query parser (qs): a[b]=1 is nested.
  const q = JSON.parse((await request(`${s.http}/info?a[b]=1`)).body) as { query: unknown };
  t.deepEqual(q.query, { a: { b: '1' } });
  const streamed = await request(`${s.http}/stream`);
  t.is(streamed.body, 'one\ntwo\n');
  t.regex(s.server.output(), /node listener/);
});

test('Express 5 (app.listen(3000) captured): req.ip and req.protocol right behind nginx with HTTPS', async (t) => {
  const s = await stack(t, 'express5/app.mjs');
  await common(t, s, { express: 5 }, true);
  // Express 5's "simple" query parser: a[b]=1 stays flat.
  const q = JSON.parse((await request(`${s.http}/info?a[b]=1`)).body) as { query: unknown };
  t.deepEqual(q.query, { 'a[b]': '1' });
  const streamed = await request(`${s.http}/stream`);
  t.is(streamed.body, 'one\ntwo\n');
  t.regex(s.server.output(), /captured listen\(\)/);
  t.regex(s.server.output(), /express 5 example listening on :3000/);
});

test('Koa 3 (export default app.callback()): ctx.ip, ctx.protocol, secure cookies, a stream body', async (t) => {
  const s = await stack(t, 'koa/app.mjs');
  await common(t, s, { koa: 3 }, true);
  const streamed = await request(`${s.http}/stream`);
  t.is(streamed.body, 'one\ntwo\n');
});

test('Fastify 5 (await fastify.listen() captured): request.ip and request.protocol', async (t) => {
  const s = await stack(t, 'fastify/app.mjs');
  await common(t, s, { fastify: 5, hostname: '127.0.0.1' });
  t.regex(s.server.output(), /captured listen\(\)/);
  t.regex(s.server.output(), /fastify example listening on :3000/);
});

test('Hono 4 (export default app, fetch): getConnInfo and the https URL', async (t) => {
  const s = await stack(t, 'hono/app.mjs');
  const info = await common(t, s, { hono: 4 });
  t.regex(String(info.url), /^https:\/\/127\.0\.0\.1\/info\?a=1$/);
  t.regex(s.server.output(), /fetch handler/);
});

test('a plain (req, res) listener: socket.remoteAddress and socket.encrypted', async (t) => {
  const s = await stack(t, 'http/app.mjs');
  const plain = JSON.parse((await request(`${s.http}/x`, { headers: FORGED })).body) as Record<string, unknown>;
  t.like(plain, { http: true, ip: CLIENT_ADDRESS, protocol: 'http', url: '/x' });
  const secure = JSON.parse((await request(`${s.https}/x`)).body) as Record<string, unknown>;
  t.like(secure, { ip: CLIENT_ADDRESS, protocol: 'https' });
  const posted = await request(`${s.http}/json`, { method: 'POST', json: [1, 2] });
  t.deepEqual(JSON.parse(posted.body), { received: [1, 2] });
  t.deepEqual((await request(`${s.http}/cookies`)).headers['set-cookie'], ['session=abc; HttpOnly', 'theme=dark']);
  // An Upgrade request to an app with no 'upgrade' listener is an ordinary request, as in http.Server.
  const upgrade = await request(`${s.http}/ws`, { headers: { Connection: 'keep-alive, Upgrade', Upgrade: 'websocket' } });
  t.is(upgrade.status, 200);
  t.like(JSON.parse(upgrade.body), { url: '/ws' });
});

test('a script that calls listen(3000) itself: captured, never bound, served through its own server', async (t) => {
  const s = await stack(t, 'listen-script/server.cjs');
  const r = JSON.parse((await request(`${s.http}/hello?x=1`)).body) as { script: boolean; url: string; ip: string; address: { port: number } };
  t.like(r, { script: true, url: '/hello?x=1', ip: CLIENT_ADDRESS });
  t.is(r.address.port, 3000);
  await s.server.waitFor(/listen-script example listening on \{"address":"127\.0\.0\.1","family":"IPv4","port":3000\}/);
  t.regex(s.server.output(), /captured listen\(\)/);
  // Nothing listens on 3000: the connection is refused.
  const refused = await new Promise<string>((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port: 3000 });
    sock.once('connect', () => (sock.destroy(), resolve('connected')));
    sock.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
  t.is(refused, 'ECONNREFUSED');
});

test('WebSocket (ws) through nginx, plain and TLS: the upgrade reaches the app server, frames flow both ways', async (t) => {
  const s = await stack(t, 'websocket/server.mjs');
  for (const base of [s.http, s.https]) {
    const url = base.replace(/^http/, 'ws') + '/chat?room=1';
    const r = await wsRoundTrip(url);
    t.deepEqual(r.messages, [`hello ${CLIENT_ADDRESS}, you asked for /chat?room=1`, 'echo: ping 1']);
    t.is(r.code, 1000);
  }
  // Plain requests to the same server still work beside the upgrades.
  const page = await request(`${s.http}/`);
  t.is(page.status, 200);
  t.regex(page.body, /WebSocket client/);
});

test('WebSocket through the uWSGI router (--http-websockets); Apache refuses it with a clear 501', async (t) => {
  const server = await startServer({ app: example('websocket/server.mjs') });
  t.teardown(() => shutdown(server));
  const [router, apache] = await Promise.all([startRouter({ to: server.socket, args: ['--http-websockets'] }), startApache({ backend: `unix:${server.socket}|uwsgi://localhost/` })]);
  t.teardown(() => router.stop());
  t.teardown(() => apache.stop());
  const r = await wsRoundTrip(`ws://127.0.0.1:${router.port}/chat`);
  t.deepEqual(r.messages, [`hello ${CLIENT_ADDRESS}, you asked for /chat`, 'echo: ping 1']);
  // mod_proxy_uwsgi would pass the 101 on without Upgrade/Connection and then relay nothing:
  // the client would hang. nuwsgi answers 501 instead and says why, to the client and in its log.
  const refused = await t.throwsAsync(wsRoundTrip(`ws://127.0.0.1:${apache.port}/chat`));
  t.is((refused as Error & { status?: number }).status, 501);
  t.regex(refused!.message, /Apache's mod_proxy_uwsgi: it cannot relay an upgraded connection/);
  await server.waitFor(/Upgrade to "websocket" refused: Apache's mod_proxy_uwsgi cannot carry an upgraded connection/);
});
