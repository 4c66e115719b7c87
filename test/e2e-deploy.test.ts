// The deployment files, each run as written: the nginx examples in nginx/ (rendered with test
// paths and ports, nothing else changed), the docker-compose topology as processes (validated by
// `docker-compose config`, same command line, health check and nginx conf), the systemd unit
// (`systemd-analyze verify`, then its ExecStart), and scale-out: two nuwsgi servers behind one
// nginx upstream, one stopped mid-load.
import test, { type ExecutionContext } from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { count, shutdown, sleep, until } from './helpers/lifecycle.js';
import { findNginx, freePort } from './helpers/nginx.js';
import { wsRoundTrip } from './helpers/ws.js';
import { BIN, FIXTURE_APPS, startServer, type ServerInstance } from './helpers/server.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const repoFile = (rel: string) => readFileSync(path.join(ROOT, rel), 'utf8');

function tempDir(t: ExecutionContext, prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  chmodSync(dir, 0o755);
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** `text` with each [from, to] replaced everywhere; every `from` must occur (the example changed?). */
function render(t: ExecutionContext, name: string, text: string, replacements: [string, string][]): string {
  for (const [from, to] of replacements) {
    if (!text.includes(from)) t.fail(`${name} no longer contains ${JSON.stringify(from)}: update this test with the example`);
    text = text.split(from).join(to);
  }
  return text;
}

interface Site {
  port: number;
  baseUrl: string;
  errorLog(): string;
}

/**
 * nginx with one of our site files included in `http {}` exactly as /etc/nginx/conf.d/*.conf is
 * on Debian, with Debian's uwsgi_params next to it, workers as www-data. Only the process
 * settings (pid, logs, temp paths) are the test's.
 */
async function startSite(t: ExecutionContext, site: string): Promise<Site> {
  const dir = tempDir(t, 'nuwsgi-site-');
  copyFileSync('/etc/nginx/uwsgi_params', path.join(dir, 'uwsgi_params'));
  writeFileSync(path.join(dir, 'site.conf'), site);
  const port = Number(/listen 127\.0\.0\.1:(\d+);/.exec(site)?.[1]);
  const conf = `daemon off;
master_process on;
worker_processes 2;
user www-data;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
events { worker_connections 512; }
http {
    access_log ${dir}/access.log;
    client_body_temp_path ${dir}/client_body_temp;
    proxy_temp_path ${dir}/proxy_temp;
    fastcgi_temp_path ${dir}/fastcgi_temp;
    uwsgi_temp_path ${dir}/uwsgi_temp;
    scgi_temp_path ${dir}/scgi_temp;
    include ${dir}/site.conf;
}
`;
  writeFileSync(path.join(dir, 'nginx.conf'), conf);
  const child = spawn(findNginx(), ['-p', `${dir}/`, '-c', path.join(dir, 'nginx.conf'), '-e', path.join(dir, 'error.log')], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stderr!.on('data', (d: Buffer) => (out += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGQUIT');
      const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
  });
  const errorLog = () => (existsSync(path.join(dir, 'error.log')) ? readFileSync(path.join(dir, 'error.log'), 'utf8') : '');
  await until(() => existsSync(path.join(dir, 'nginx.pid')) || child.exitCode !== null, 'nginx to start', 10_000);
  if (child.exitCode !== null) throw new Error(`nginx did not start:\n${out}\n${errorLog()}`);
  return { port, baseUrl: `http://127.0.0.1:${port}`, errorLog };
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function request(url: string, opts: { method?: string; body?: Buffer | string; timeoutMs?: number } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? 'GET', agent: false, headers: opts.body === undefined ? {} : { 'Content-Length': String(Buffer.byteLength(opts.body)) } }, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.setTimeout(opts.timeoutMs ?? 20_000, () => req.destroy(new Error(`${url}: no answer`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** The `nuwsgi ...` command line an example documents in its header comment, as argv. */
function documentedCommand(text: string, marker: string): string[] {
  const line = text.split('\n').find((l) => l.startsWith('#   nuwsgi ') && l.includes(marker));
  if (!line) throw new Error(`no "#   nuwsgi ... ${marker}" line`);
  return line.replace(/^#\s+nuwsgi\s+/, '').trim().split(/\s+/);
}

/** Start nuwsgi with exactly `args` (no helper defaults). */
function startBare(args: string[], env?: Record<string, string>): Promise<ServerInstance> {
  return startServer({ app: '', bare: true, args, env });
}

test('nginx/uwsgi-unix.conf: unix socket 0660 with group www-data, uwsgi_params, and a read timeout above harakiri', async (t) => {
  const dir = tempDir(t, 'nuwsgi-run-');
  const example = repoFile('nginx/uwsgi-unix.conf');
  const port = await freePort();
  // Scaled down: harakiri 60 -> 1 and nginx's 65s -> 3s keep the example's "a little above".
  const site = render(t, 'uwsgi-unix.conf', example, [
    ['unix:/run/app/app.sock', `unix:${dir}/app.sock`],
    ['listen 80;', `listen 127.0.0.1:${port};`],
    ['uwsgi_read_timeout 65s;', 'uwsgi_read_timeout 3s;'],
  ]);
  // The documented command, with this test's paths; --chown-socket stands in for systemd's
  // Group=www-data (deploy/nuwsgi.service), since the test runs as root.
  const args = documentedCommand(example, '--socket')
    .map((a) => a.replace('/run/app/', `${dir}/`))
    .map((a) => (a === '60' ? '1' : a === 'app.js' ? path.join(FIXTURE_APPS, 'fw-deploy.mjs') : a));
  t.true(args.includes('--chmod-socket=660'));
  const server = await startBare([...args, '--chown-socket', 'root:www-data']);
  t.teardown(() => shutdown(server));
  const nginx = await startSite(t, site);

  const got = await request(`${nginx.baseUrl}/work?x=1`);
  t.is(got.status, 200, got.body);
  t.like(JSON.parse(got.body), { method: 'GET', url: '/work?x=1', ip: '127.0.0.1' });
  const body = Buffer.alloc(5 * 1024 * 1024, 7);
  const posted = await request(`${nginx.baseUrl}/work`, { method: 'POST', body });
  t.is(posted.status, 200);
  t.is(JSON.parse(posted.body).size, body.length);
  // A stuck request: nuwsgi's harakiri answers first, with its own 504 (not nginx's HTML page).
  const stuck = await request(`${nginx.baseUrl}/block?ms=6000`);
  t.is(stuck.status, 504);
  t.regex(stuck.body, /the request ran longer than harakiri \(1s\)/);
  await server.waitFor(/HARAKIRI ON WORKER \d+ .*GET \/block/);
  t.notRegex(nginx.errorLog(), /upstream timed out/);
});

test('nginx/http-keepalive.conf: the HTTP path behind proxy_pass reuses its upstream connections, sets the forwarding headers and carries WebSocket upgrades', async (t) => {
  const example = repoFile('nginx/http-keepalive.conf');
  const [port, appPort] = await Promise.all([freePort(), freePort()]);
  const site = render(t, 'http-keepalive.conf', example, [
    ['server 127.0.0.1:8001;', `server 127.0.0.1:${appPort};`],
    ['listen 80;', `listen 127.0.0.1:${port};`],
  ]);
  const args = documentedCommand(example, '--http-socket').map((a) => (a === '127.0.0.1:8001' ? `127.0.0.1:${appPort}` : a === 'app.js' ? path.join(FIXTURE_APPS, 'http-path.mjs') : a));
  const server = await startBare(args);
  t.teardown(() => shutdown(server));
  const nginx = await startSite(t, site);

  const replies: { url: string; upstreamPort: number; forwardedFor: string; forwardedProto: string; host: string }[] = [];
  for (let i = 0; i < 12; i++) {
    const r = await request(`${nginx.baseUrl}/k?i=${i}`);
    t.is(r.status, 200, r.body);
    replies.push(JSON.parse(r.body));
  }
  t.like(replies[0], { url: '/k?i=0', forwardedFor: '127.0.0.1', forwardedProto: 'http', host: '127.0.0.1' });
  // Twelve client connections, one after the other: each of nginx's two workers reuses its one
  // idle upstream connection instead of opening a new one per request.
  const upstreams = new Set(replies.map((r) => r.upstreamPort));
  t.true(upstreams.size <= 2, `upstream connections used: ${[...upstreams].join(', ')}`);
  // The app's own 'upgrade' listener (ws) gets the upgrade through nuwsgi's HTTP server.
  const ws = await wsRoundTrip(`ws://127.0.0.1:${port}/chat?room=2`);
  t.deepEqual(ws.messages, ['hello 127.0.0.1, you asked for /chat?room=2', 'echo: ping 1']);
  t.is(ws.code, 1000);
  t.notRegex(nginx.errorLog(), /\[error\]/);
});

/** Read a streamed response whole; `firstChunk` is what the first read delivered. */
function readStream(url: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; firstChunk: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false }, (res) => {
      let body = '';
      let firstChunk: string | undefined;
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        firstChunk ??= c;
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, firstChunk: firstChunk ?? '', body }));
    });
    req.setTimeout(15_000, () => req.destroy(new Error(`${url}: no answer`)));
    req.on('error', reject);
  });
}

test('nginx/uwsgi-streaming.conf: events stream with X-Accel-Buffering: no or uwsgi_buffering off, not otherwise', async (t) => {
  const dir = tempDir(t, 'nuwsgi-run-');
  const example = repoFile('nginx/uwsgi-streaming.conf');
  const port = await freePort();
  const site = render(t, 'uwsgi-streaming.conf', example, [
    ['/run/app/', `${dir}/`],
    ['listen 80;', `listen 127.0.0.1:${port};`],
  ]);
  const app = path.join(ROOT, 'examples/sse/app.mjs');
  const [main, streams] = await Promise.all(
    ['--harakiri', 'stream.sock'].map((marker) =>
      startBare([...documentedCommand(example, marker).map((a) => (a === 'app.js' ? app : a.replace('/run/app/', `${dir}/`))), '--chown-socket', 'root:www-data']),
    ),
  );
  t.teardown(() => shutdown(main));
  t.teardown(() => shutdown(streams));
  const nginx = await startSite(t, site);
  const events = (s: string) => [...s.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
  const q = 'count=4&every=250';

  // X-Accel-Buffering: no (the example app's default): event 1 arrives while the stream runs.
  const unbuffered = await readStream(`${nginx.baseUrl}/events?${q}`);
  t.is(unbuffered.status, 200);
  t.is(unbuffered.headers['x-accel-buffering'], undefined); // nginx consumed it
  t.deepEqual(events(unbuffered.firstChunk).slice(0, 1), [1]);
  t.false(events(unbuffered.firstChunk).includes(4), 'the first event arrived while the stream was running');
  t.deepEqual(events(unbuffered.body), [1, 2, 3, 4]);
  // The same response without the header under `location /`: nginx buffers it whole.
  const buffered = await readStream(`${nginx.baseUrl}/events?${q}&buffered=1`);
  t.deepEqual(events(buffered.firstChunk), [1, 2, 3, 4]);
  // Without the header under `location /streams/` (uwsgi_buffering off, the stream server).
  const offLocation = await readStream(`${nginx.baseUrl}/streams/events?${q}&buffered=1`);
  t.deepEqual(events(offLocation.firstChunk).slice(0, 1), [1]);
  t.false(events(offLocation.firstChunk).includes(4), 'the first event arrived while the stream was running');
  t.deepEqual(events(offLocation.body), [1, 2, 3, 4]);
});

test('docker-compose.yml: valid for docker-compose, and the same topology runs as processes', async (t) => {
  // 1. docker-compose itself validates and normalises the file (no Docker engine needed).
  const config = spawnSync('docker-compose', ['-f', path.join(ROOT, 'docker-compose.yml'), 'config'], { encoding: 'utf8', cwd: ROOT });
  if (config.error) throw new Error(`docker-compose not installed: run \`apt-get install docker-compose\` (.ci/run does this): ${config.error.message}`);
  t.is(config.status, 0, config.stderr);
  const toJson = spawnSync('python3', ['-c', 'import json,sys,yaml; print(json.dumps(yaml.safe_load(sys.stdin)))'], { input: config.stdout, encoding: 'utf8' });
  t.is(toJson.status, 0, toJson.stderr);
  type Service = { command: string[]; init?: boolean; healthcheck?: { test: string[] }; volumes: string[]; depends_on?: Record<string, { condition: string }>; image: string };
  const compose = JSON.parse(toJson.stdout) as { services: { app: Service; nginx: Service }; volumes: Record<string, unknown> };
  const { app, nginx: ngx } = compose.services;
  t.true(app.init);
  t.deepEqual(ngx.depends_on, { app: { condition: 'service_healthy' } });
  t.true(app.volumes.includes('appsock:/run/app:rw') && ngx.volumes.includes('appsock:/run/app:rw'), 'the socket volume is shared');
  const confMount = ngx.volumes.find((v) => v.endsWith(':/etc/nginx/conf.d/default.conf:ro'))!;
  const confFile = confMount.split(':')[0];
  t.is(confFile, path.join(ROOT, 'nginx/compose.conf'));

  // 2. The Dockerfile runs the same command and health check.
  const dockerfile = repoFile('Dockerfile');
  const jsonAfter = (keyword: RegExp) => JSON.parse(dockerfile.split('\n').find((l) => keyword.test(l))!.replace(/^.*?(\[.*\])\s*$/, '$1')) as string[];
  t.deepEqual(jsonAfter(/^CMD \[/), app.command);
  t.deepEqual(['CMD', ...jsonAfter(/^HEALTHCHECK .*CMD \[/)], app.healthcheck!.test);
  t.regex(dockerfile, /^USER node$/m);

  // 3. The topology as processes: the container paths mapped onto this machine.
  const dir = tempDir(t, 'nuwsgi-compose-');
  const host = (arg: string) => (arg === 'node' ? process.execPath : arg.replace('/run/app/', `${dir}/`).replace(/^\/app\//, `${ROOT}/`));
  const [, ...args] = app.command.map(host);
  const server = await startBare(args.slice(1));
  t.teardown(() => shutdown(server));
  // The health check as Docker runs it: until it passes.
  const [, healthNode, ...healthArgs] = app.healthcheck!.test.map(host);
  t.is(healthNode, process.execPath);
  let health = spawnSync(healthNode, healthArgs, { encoding: 'utf8' });
  for (let i = 0; health.status !== 0 && i < 50; i++) {
    await sleep(100);
    health = spawnSync(healthNode, healthArgs, { encoding: 'utf8' });
  }
  t.is(health.status, 0, health.stderr);
  t.regex(health.stdout, /pong/);

  const port = await freePort();
  const site = render(t, 'compose.conf', readFileSync(confFile, 'utf8'), [
    ['unix:/run/app/app.sock', `unix:${dir}/app.sock`],
    ['listen 80;', `listen 127.0.0.1:${port};`],
  ]);
  const nginx = await startSite(t, site);
  const hello = await request(`${nginx.baseUrl}/`);
  t.is(hello.status, 200);
  t.like(JSON.parse(hello.body), { hello: 'from nuwsgi', ip: '127.0.0.1' });
  const echoed = await request(`${nginx.baseUrl}/echo`, { method: 'POST', body: 'ping' });
  t.is(echoed.body, 'ping');

  // `docker stop`: SIGTERM (through init) -> graceful stop, exit 0, socket removed (--vacuum).
  t.is(await server.stop('SIGTERM', 15_000), 0);
  t.false(existsSync(path.join(dir, 'app.sock')));
  t.regex(server.output(), /graceful shutdown/);
});

test('deploy/nuwsgi.service: systemd-analyze verify, and its ExecStart serves and stops on KillSignal', async (t) => {
  const unitPath = path.join(ROOT, 'deploy/nuwsgi.service');
  const verify = spawnSync('systemd-analyze', ['verify', unitPath], { encoding: 'utf8' });
  if (verify.error) throw new Error(`systemd-analyze not installed: run \`apt-get install systemd\` (.ci/run does this): ${verify.error.message}`);
  t.is(verify.status, 0, verify.stderr);
  t.is(verify.stderr.trim(), '');
  const unit = readFileSync(unitPath, 'utf8');
  const value = (key: string) => new RegExp(`^${key}=(.*)$`, 'm').exec(unit)?.[1];
  t.is(value('KillSignal'), 'SIGTERM');
  t.is(value('KillMode'), 'mixed');
  const exec = value('ExecStart')!.split(/\s+/);
  const mercy = Number(exec[exec.indexOf('--worker-reload-mercy') + 1]);
  t.true(Number(value('TimeoutStopSec')) > mercy, 'systemd waits longer than the workers may drain');

  const dir = tempDir(t, 'nuwsgi-unit-');
  const [node, bin, ...args] = exec.map((a) => a.replace('/run/app/', `${dir}/`).replace('/srv/app/app.js', path.join(ROOT, 'examples/demo/app.js')));
  t.is(node, '/usr/bin/node');
  t.is(bin, '/srv/app/node_modules/nuwsgi/bin/nuwsgi.js');
  const server = await startBare([...args, '--chown-socket', 'root:www-data']);
  t.teardown(() => shutdown(server));
  const health = spawnSync(process.execPath, [BIN, 'health', '--socket', path.join(dir, 'app.sock')], { encoding: 'utf8' });
  t.is(health.status, 0, health.stderr);
  // ExecReload: SIGHUP is a graceful chain reload; the socket keeps answering.
  process.kill(server.pid, 'SIGHUP');
  await server.waitFor(/chain reload/i);
  t.is(spawnSync(process.execPath, [BIN, 'health', path.join(dir, 'app.sock')]).status, 0);
  t.is(await server.stop('SIGTERM', 15_000), 0);
  t.false(existsSync(path.join(dir, 'app.sock')), '--vacuum removed the socket');
});

interface Outcome {
  method: string;
  path: string;
  start: number;
  end: number;
  status?: number;
  label?: string;
  error?: string;
}

test('scale-out (nginx/uwsgi-tcp-upstream.conf): two nuwsgi hosts share the load; one stopped mid-load, nginx fails over', async (t) => {
  const example = repoFile('nginx/uwsgi-tcp-upstream.conf');
  const [pa, pb, port] = await Promise.all([freePort(), freePort(), freePort()]);
  const argsOf = (p: number) => documentedCommand(example, '--socket').map((a) => (a === '0.0.0.0:3031' ? `127.0.0.1:${p}` : a === '/srv/app/app.js' ? path.join(FIXTURE_APPS, 'fw-deploy.mjs') : a));
  const [a, b] = await Promise.all([startBare(argsOf(pa), { NUWSGI_LABEL: 'A' }), startBare(argsOf(pb), { NUWSGI_LABEL: 'B' })]);
  t.teardown(() => shutdown(a));
  t.teardown(() => shutdown(b));
  const site = render(t, 'uwsgi-tcp-upstream.conf', example, [
    ['10.0.0.11:3031', `127.0.0.1:${pa}`],
    ['10.0.0.12:3031', `127.0.0.1:${pb}`],
    ['listen 80;', `listen 127.0.0.1:${port};`],
  ]);
  const nginx = await startSite(t, site);

  // Load: 8 clients in a loop, GET and POST alternately, each request 40 ms in the app.
  const t0 = Date.now();
  const outcomes: Outcome[] = [];
  let running = true;
  const client = async (n: number) => {
    for (let i = 0; running; i++) {
      const method = (n + i) % 2 ? 'POST' : 'GET';
      const o: Outcome = { method, path: `/work?ms=40&c=${n}&i=${i}`, start: Date.now() - t0, end: 0 };
      try {
        const r = await request(nginx.baseUrl + o.path, { method, body: method === 'POST' ? 'x'.repeat(100) : undefined, timeoutMs: 10_000 });
        o.status = r.status;
        if (r.status === 200) o.label = JSON.parse(r.body).label;
      } catch (error) {
        o.error = (error as Error).message;
      }
      o.end = Date.now() - t0;
      outcomes.push(o);
    }
  };
  const clients = Array.from({ length: 8 }, (_, n) => client(n));
  await until(() => outcomes.filter((o) => o.label === 'A').length >= 10 && outcomes.filter((o) => o.label === 'B').length >= 10, 'both hosts to serve', 20_000);
  const stopAt = Date.now() - t0;
  const before = { A: outcomes.filter((o) => o.label === 'A').length, B: outcomes.filter((o) => o.label === 'B').length };
  const code = await a.stop('SIGTERM', 15_000);
  const exitAt = Date.now() - t0;
  await sleep(1000);
  running = false;
  await Promise.all(clients);

  t.is(code, 0);
  t.regex(a.output(), /graceful shutdown/);
  t.log(`before the SIGTERM: A ${before.A}, B ${before.B}`);
  t.log(`${outcomes.length} requests: A ${outcomes.filter((o) => o.label === 'A').length}, B ${outcomes.filter((o) => o.label === 'B').length}; SIGTERM at ${stopAt} ms, A exited at ${exitAt} ms`);
  t.true(outcomes.some((o) => o.label === 'B' && o.start > exitAt), 'B keeps serving after A is gone');
  t.false(outcomes.some((o) => o.label === 'A' && o.start > exitAt), 'nothing reaches A after it exited');
  // No idempotent request failed: refused or reset by A, nginx passed it on to B.
  t.deepEqual(outcomes.filter((o) => o.method === 'GET' && o.status !== 200), []);
  // Every request A accepted was finished by its graceful stop, and A refuses new connections from
  // the moment its stop begins, so nginx passes them on. What remains is a race of a few
  // microseconds (a connection queued in the instant the last worker closes the socket): such a
  // request is reset, and nginx does not resend a POST it has sent (non_idempotent). Each failure
  // allowed here must be exactly that: a POST, 502, and nginx logged the reset from A for it.
  const log = nginx.errorLog();
  t.log(`nginx saw ${count(log, new RegExp(`reset by peer\\) while reading response header from upstream.*upstream: "uwsgi://127\\.0\\.0\\.1:${pa}"`))} resets from A (GETs among them went to B)`);
  for (const o of outcomes.filter((x) => x.status !== 200)) {
    t.is(o.method, 'POST', JSON.stringify(o));
    t.is(o.status, 502, JSON.stringify(o));
    t.true(log.includes(`reset by peer) while reading response header from upstream, client: 127.0.0.1, server: example.com, request: "POST ${o.path} HTTP/1.1", upstream: "uwsgi://127.0.0.1:${pa}"`), `no reset from A logged for ${o.path}`);
    t.log(`race: ${o.method} ${o.path} started at ${o.start} ms, sent to A, reset from A's listen queue: ${o.status}`);
  }
});

/** One uwsgi request on a fresh TCP connection: 'served', 'refused' at connect, or 'reset' after. */
function uwsgiOnce(port: number, uri: string): Promise<'served' | 'refused' | 'reset'> {
  const vars: [string, string][] = [['REQUEST_METHOD', 'GET'], ['REQUEST_URI', uri], ['SERVER_PROTOCOL', 'HTTP/1.1'], ['REMOTE_ADDR', '127.0.0.1']];
  const block = Buffer.concat(vars.flatMap(([k, v]) => [Buffer.from([k.length & 0xff, k.length >> 8]), Buffer.from(k), Buffer.from([v.length & 0xff, v.length >> 8]), Buffer.from(v)]));
  const packet = Buffer.concat([Buffer.from([0, block.length & 0xff, block.length >> 8, 0]), block]);
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let data = '';
    let connected = false;
    sock.on('connect', () => {
      connected = true;
      sock.write(packet);
    });
    sock.on('data', (c: Buffer) => (data += c.toString('latin1')));
    sock.on('error', () => {});
    sock.on('close', () => resolve(!connected ? 'refused' : data.startsWith('HTTP/1.1 200') ? 'served' : 'reset'));
  });
}

test('a connection that reaches a stopping server is refused, not queued and reset, so nginx can pass it on', async (t) => {
  // The deterministic form of scale-out failover. A request keeps A's only worker busy; A gets
  // SIGTERM: the master closes its copy of the listening socket at once and the worker stops
  // accepting, so a new connect is refused (nginx passes any request, POST included, to the next
  // host) instead of completing its handshake into a queue nobody reads and being reset at exit.
  const port = await freePort();
  const a = await startBare(['--socket', `127.0.0.1:${port}`, '--processes', '1', path.join(FIXTURE_APPS, 'fw-deploy.mjs')]);
  t.teardown(() => shutdown(a));
  // After ready: until a worker listens, the bound socket refuses connects.
  await a.waitFor(/nuwsgi is ready/);
  const busy = uwsgiOnce(port, '/work?ms=1500&announce');
  await a.waitFor(/fw-deploy: \/work\?ms=1500&announce in flight/);
  const stopped = a.stop('SIGTERM', 15_000);
  await a.waitFor(/worker 1 \(pid: \d+\) stopped accepting, 1 request in flight/);
  const late = uwsgiOnce(port, '/work?ms=0');
  t.is(await busy, 'served', 'the in-flight request finishes');
  t.is(await stopped, 0);
  t.is(await late, 'refused');
});
