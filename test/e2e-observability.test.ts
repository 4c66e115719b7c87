// Observability end to end, through the real CLI and a real nginx: the request log (default line
// against real uWSGI behind the same nginx, every --log-format variable, JSON lines, the log-*
// filters, whole lines under load), --logto with every rotation style, a full disk, the stats
// socket read the way uwsgitop reads it, the Prometheus endpoint parsed strictly, FIFO `s`.
//
// What nginx sent and what nuwsgi answered is known byte for byte: where a test needs it, nginx
// talks to a recording proxy (a unix socket in front of the backend), so the packet's var count
// and size and the response's head and body sizes are computed from the bytes, not assumed.
// Every wait is bounded; no test asserts how long anything took.

// Local time in every process (servers inherit it): a half-hour offset shows ctime/ltime are local.
process.env.TZ = 'America/St_Johns';

import test, { type ExecutionContext } from 'ava';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  accessSync,
  constants,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  truncateSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { JSON_LINE_FIELDS, LOG_FORMAT_VARIABLES } from '../src/observability/request-log.js';
import { shutdown, sleep, spawnedWorkers, tempDir, until } from './helpers/lifecycle.js';
import { freePort, httpRequest, startNginx, type HttpResponse, type NginxInstance } from './helpers/nginx.js';
import { startServer, type ServerInstance } from './helpers/server.js';
import { parseHead, type Head } from './helpers/http-head.js';

const MB = 1024 * 1024;

// ---------------------------------------------------------------- waiting and traffic

async function eventually<T>(probe: () => Promise<T>, ok: (v: T) => boolean, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    last = await probe();
    if (ok(last)) return last;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)?.slice(0, 2000)}`);
    await sleep(50);
  }
}

interface Sent {
  res: HttpResponse;
  before: number;
  after: number;
}

async function send(nginx: NginxInstance, p: string, o: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Sent> {
  const before = Date.now();
  const res = await httpRequest({ method: o.method ?? 'GET', url: nginx.baseUrl + p, headers: o.headers, body: o.body, timeoutMs: 30_000 });
  return { res, before, after: Date.now() };
}

/** Runs fn(0..n-1) with at most `concurrency` at a time, in index order. */
async function pool<T>(n: number, concurrency: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out = new Array<T>(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, concurrency) }, async () => {
      while (next < n) {
        const i = next++;
        out[i] = await fn(i);
      }
    }),
  );
  return out;
}

const xpid = (res: HttpResponse): number => Number(res.headers['x-pid']);

// ---------------------------------------------------------------- the recording proxy

interface Exchange {
  req: Buffer[];
  res: Buffer[];
}

interface Proxy {
  path: string;
  target: string;
  exchanges: Exchange[];
}

/** nginx -> proxy -> backend (unix sockets), keeping every byte of both directions. */
async function startProxy(t: ExecutionContext, dir: string, target: string): Promise<Proxy> {
  const proxy: Proxy = { path: path.join(dir, 'proxy.sock'), target, exchanges: [] };
  const server = net.createServer((client) => {
    const ex: Exchange = { req: [], res: [] };
    proxy.exchanges.push(ex);
    const backend = net.connect(proxy.target);
    const kill = () => {
      client.destroy();
      backend.destroy();
    };
    client.on('error', kill);
    backend.on('error', kill);
    client.on('data', (d: Buffer) => {
      ex.req.push(d);
      backend.write(d);
    });
    backend.on('data', (d: Buffer) => {
      ex.res.push(d);
      client.write(d);
    });
    backend.on('end', () => client.end());
    client.on('end', () => backend.end());
  });
  await new Promise<void>((resolve) => server.listen(proxy.path, resolve));
  spawnSync('chmod', ['666', proxy.path]); // nginx's workers run as nobody
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return proxy;
}

interface Packet {
  datasize: number;
  pairs: [string, string][];
  get(key: string): string | undefined;
}

function parsePacket(buf: Buffer): Packet {
  const datasize = buf.readUInt16LE(1);
  const pairs: [string, string][] = [];
  for (let o = 4; o < 4 + datasize; ) {
    const kl = buf.readUInt16LE(o);
    const k = buf.subarray(o + 2, o + 2 + kl).toString('latin1');
    o += 2 + kl;
    const vl = buf.readUInt16LE(o);
    const v = buf.subarray(o + 2, o + 2 + vl).toString('latin1');
    o += 2 + vl;
    pairs.push([k, v]);
  }
  return { datasize, pairs, get: (key) => [...pairs].reverse().find(([k]) => k === key)?.[1] };
}

const exchangeAt = (proxy: Proxy, i: number) => ({ packet: parsePacket(Buffer.concat(proxy.exchanges[i].req)), head: parseHead(Buffer.concat(proxy.exchanges[i].res)) });

// ---------------------------------------------------------------- stacks

interface Stack {
  server: ServerInstance;
  nginx: NginxInstance;
  proxy?: Proxy;
}

/**
 * Start nuwsgi with obs-app; stopped in teardown even when it never gets ready. With --logto the
 * ready line is in the file (or nowhere, for /dev/full: then the first dropped-lines warning).
 */
async function startObs(t: ExecutionContext, args: string[]): Promise<ServerInstance> {
  const server = await startServer({ app: 'obs-app.mjs', args, waitReady: false });
  t.teardown(() => shutdown(server));
  const logto = args.includes('--logto') ? args[args.indexOf('--logto') + 1] : undefined;
  if (!logto) await server.waitFor(/nuwsgi is ready/, 30_000);
  else if (logto === '/dev/full') await server.waitFor(/cannot write to the log/, 30_000);
  else await until(() => read(logto).includes('nuwsgi is ready') || server.process.exitCode !== null, `nuwsgi ready in ${logto}`);
  return server;
}

async function obsStack(t: ExecutionContext, args: string[], o: { proxy?: boolean; locationExtra?: string } = {}): Promise<Stack> {
  const server = await startObs(t, args);
  const proxy = o.proxy ? await startProxy(t, server.dir, server.socket) : undefined;
  const nginx = await startNginx({ upstream: proxy ? `unix:${proxy.path}` : server.upstream, locationExtra: o.locationExtra });
  t.teardown(() => nginx.stop());
  return { server, nginx, proxy };
}

const read = (file: string) => (existsSync(file) ? readFileSync(file, 'latin1') : '');

const workerIds = (server: ServerInstance): Map<number, number> => new Map(spawnedWorkers(server.output()).map((w) => [w.pid, w.id]));

// ---------------------------------------------------------------- log lines

/** uWSGI's default request line (core/logging.c uwsgi_logit_simple), every field captured. */
const DEFAULT_RE =
  /^(?<prefix>.*?)\[pid: (?<pid>\d+)\|app: (?<app>-?\d+)\|req: (?<req>-?\d+)\/(?<global>\d+)\] (?<addr>.*) \((?<user>.*)\) \{(?<vars>\d+) vars in (?<pktsize>\d+) bytes\} \[(?<ctime>.{24})\] (?<method>\S*) (?<uri>\S*) => generated (?<rsize>\d+) bytes in (?<time>\d+) (?<unit>msecs|micros)(?<via>.*?)\((?<proto>\S*) (?<status>\d+)\) (?<headers>\d+) headers in (?<hsize>\d+) bytes \((?<switches>\d+) switches on core (?<core>\d+)\)$/;

const lines = (text: string) => text.split('\n').filter((l) => l !== '');
const requestLines = (text: string) => lines(text).filter((l) => l.includes('[pid: '));

function parseDefault(t: ExecutionContext, line: string): Record<string, string> {
  const m = DEFAULT_RE.exec(line);
  if (!m?.groups) {
    t.fail(`not a complete request line: ${JSON.stringify(line.slice(0, 500))}`);
    return {};
  }
  return { ...m.groups };
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const p2 = (n: number) => String(n).padStart(2, '0');

/** ctime(3) cut to 24 characters, computed here independently of the implementation. */
function ctimeOf(sec: number): string {
  const d = new Date(sec * 1000);
  return `${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, ' ')} ${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())} ${d.getFullYear()}`;
}

/** Apache's [%d/%b/%Y:%H:%M:%S %z], local time. */
function ltimeOf(sec: number): string {
  const d = new Date(sec * 1000);
  const off = -d.getTimezoneOffset();
  const z = (off < 0 ? '-' : '+') + p2(Math.floor(Math.abs(off) / 60)) + p2(Math.abs(off) % 60);
  return `${p2(d.getDate())}/${MONTHS[d.getMonth()]}/${d.getFullYear()}:${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())} ${z}`;
}

const secondsOf = (s: Sent): number[] => {
  const out: number[] = [];
  for (let sec = Math.floor(s.before / 1000); sec <= Math.floor(s.after / 1000); sec++) out.push(sec);
  return out;
};

/**
 * What the default line must say for one exchange, from the bytes nginx sent and the backend
 * answered: everything but the timing and the request counters.
 */
function expectedLine(packet: Packet, head: Head, pid: number): Record<string, string> {
  return {
    prefix: '',
    pid: String(pid),
    app: '0',
    addr: packet.get('REMOTE_ADDR') ?? '',
    user: packet.get('REMOTE_USER') ?? '',
    vars: String(packet.pairs.length * 2),
    pktsize: String(packet.datasize),
    method: packet.get('REQUEST_METHOD') ?? '',
    uri: packet.get('REQUEST_URI') ?? '',
    rsize: String(head.rsize),
    unit: 'msecs',
    via: ' ',
    proto: packet.get('SERVER_PROTOCOL') ?? '',
    status: String(head.status),
    headers: String(head.headers),
    hsize: String(head.hsize),
    switches: '1',
    core: '0',
  };
}

// ---------------------------------------------------------------- real uWSGI

const PLUGIN = '/usr/lib/uwsgi/plugins/python3_plugin.so';
const UWSGI = ['/usr/bin/uwsgi-core', '/usr/bin/uwsgi'].find((f) => {
  try {
    accessSync(f, constants.X_OK);
    return true;
  } catch {
    return false;
  }
});
const UWSGI_MISSING = !UWSGI ? 'uWSGI not installed (apt-get install uwsgi-core uwsgi-plugin-python3)' : !existsSync(PLUGIN) ? `uWSGI python3 plugin missing (${PLUGIN})` : undefined;

/** The WSGI twin of obs-app's /hello and /status: the same head, header for header, and body. */
const TWIN = `
import os
def application(env, start_response):
    env['wsgi.input'].read()
    q = dict(p.split('=', 1) for p in env.get('QUERY_STRING', '').split('&') if '=' in p)
    extra = []
    if env.get('PATH_INFO') == '/hello':
        status, out, extra = '200 OK', b'hello world\\n', [('X-Extra', 'yes')]
    else:
        code = int(q.get('code', '200'))
        status = {200: '200 OK', 404: '404 Not Found', 500: '500 Internal Server Error'}[code]
        out = b'z' * int(q.get('size', '0'))
    headers = [('Content-Type', 'text/plain'), ('Content-Length', str(len(out))), ('X-Pid', '%07d' % os.getpid())]
    start_response(status, headers + extra + [('Connection', 'close')])
    return [out]
`;

async function startUwsgi(t: ExecutionContext, dir: string): Promise<{ socket: string; output: () => string }> {
  writeFileSync(path.join(dir, 'twin.py'), TWIN);
  const socket = path.join(dir, 'uwsgi.sock');
  const child: ChildProcess = spawn(UWSGI!, ['--plugin', 'python3', '--socket', socket, '--chmod-socket=666', '--wsgi-file', path.join(dir, 'twin.py')], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString('latin1')));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString('latin1')));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  t.teardown(async () => {
    child.kill('SIGKILL');
    await exited;
  });
  await until(() => out.includes('spawned uWSGI worker') || child.exitCode !== null, 'uWSGI to start', 30_000);
  if (child.exitCode !== null) throw new Error(`uWSGI did not start:\n${out}`);
  return { socket, output: () => out };
}

// ================================================================ 1. the default line

test('default request line through nginx: every field from the bytes exchanged, and field by field the same as real uWSGI behind the same nginx', async (t) => {
  if (UWSGI_MISSING) {
    if (process.env.CI) t.fail(UWSGI_MISSING);
    else t.log(`skipped: ${UWSGI_MISSING}`), t.pass();
    return;
  }
  const dir = tempDir(t);
  const { server, nginx, proxy } = await obsStack(t, ['--processes', '2'], { proxy: true });
  const uw = await startUwsgi(t, dir);
  const requests: { path: string; o: { method?: string; headers?: Record<string, string>; body?: string } }[] = [
    { path: '/hello?x=1&y=two%20words', o: { headers: { 'User-Agent': 'obs-e2e/1.0 (default line)' } } },
    { path: '/status?code=404&size=9', o: { method: 'POST', body: 'abcde', headers: { 'Content-Type': 'text/plain' } } },
    { path: '/status?code=200&size=1234', o: {} },
  ];
  const perPid = new Map<number, number>();
  const results: { backend: string; line: Record<string, string>; expected: Record<string, string>; sent: Sent; packet: Packet; head: Head }[] = [];
  for (const [backend, socket] of [
    ['nuwsgi', server.socket],
    ['uwsgi', uw.socket],
  ] as const) {
    proxy!.target = socket;
    for (const r of requests) {
      const index = proxy!.exchanges.length;
      const sent = await send(nginx, r.path, r.o);
      const { packet, head } = exchangeAt(proxy!, index);
      const pid = xpid(sent.res);
      // What the client got is what the backend sent (nginx passes status and body through).
      t.is(sent.res.status, head.status);
      t.is(sent.res.body.length, head.rsize);
      t.is(packet.get('REQUEST_URI'), r.path);
      t.is(packet.get('REQUEST_METHOD'), r.o.method ?? 'GET');
      t.is(packet.get('REMOTE_ADDR'), '127.0.0.1');
      const output = backend === 'nuwsgi' ? server.output : uw.output;
      const marker = ` ${r.o.method ?? 'GET'} ${r.path} => `;
      await until(() => requestLines(output()).some((l) => l.includes(marker)), `the ${backend} line for ${r.path}`, 30_000);
      const line = parseDefault(t, requestLines(output()).find((l) => l.includes(marker))!);
      results.push({ backend, line, expected: expectedLine(packet, head, pid), sent, packet, head });
      if (backend === 'nuwsgi') {
        t.true(workerIds(server).has(pid), `pid ${pid} is one of nuwsgi's workers`);
        perPid.set(pid, (perPid.get(pid) ?? 0) + 1);
        t.is(line.req, String(perPid.get(pid)), "the serving worker's request count");
        t.true(Number(line.global) >= Number(line.req) && Number(line.global) <= requests.length);
      }
    }
  }
  for (const { backend, line, expected, sent } of results) {
    t.true(secondsOf(sent).map(ctimeOf).includes(line.ctime), `${backend}: ctime ${line.ctime} inside the request's window`);
    t.regex(line.time, /^\d+$/);
    const { req, global, ctime, time, ...fieldsNoTiming } = line;
    void [req, global, ctime, time];
    // uWSGI's python plugin counts 1 or 2 async switches (its response iterator); nuwsgi always 1.
    if (backend === 'uwsgi') t.regex(fieldsNoTiming.switches, /^[12]$/), (fieldsNoTiming.switches = '1');
    t.deepEqual(fieldsNoTiming, expected, `${backend}: every field matches the exchanged bytes`);
  }
  // nuwsgi against uWSGI, request by request: equal but for pid, counters, time, and the packet
  // size, whose REMOTE_PORT (the client's port) may have another number of digits.
  for (let i = 0; i < requests.length; i++) {
    const mine = results[i];
    const theirs = results[i + requests.length];
    const strip = (r: (typeof results)[number]) => {
      const { pid, req, global, ctime, time, pktsize, switches, ...rest } = r.line;
      void [pid, req, global, ctime, time, switches];
      return { ...rest, pktsizeLessPort: Number(pktsize) - (r.packet.get('REMOTE_PORT') ?? '').length };
    };
    t.deepEqual(strip(mine), strip(theirs), `request ${i}: nuwsgi's line is uWSGI's`);
    t.is(mine.head.text.replace(/X-Pid: \d+/, 'X-Pid: P'), theirs.head.text.replace(/X-Pid: \d+/, 'X-Pid: P'), `request ${i}: same head from both`);
  }
});

// ================================================================ 2. --log-format, JSON, filters

/** uWSGI 2.0's registered log-format variables (uwsgi_register_logchunks), from its source. */
const UWSGI_LOG_VARIABLES = [
  'uri', 'method', 'user', 'addr', 'host', 'proto', 'uagent', 'referer', 'status', 'micros', 'msecs', 'secs', 'time',
  'ctime', 'ltime', 'ftime', 'tmsecs', 'tmicros', 'epoch', 'size', 'rsize', 'hsize', 'cl', 'pid', 'wid', 'core',
  'switches', 'vars', 'headers', 'pktsize', 'modifier1', 'modifier2', 'vsz', 'rss', 'vszM', 'rssM', 'rerr', 'werr', 'ioerr',
];

test('--log-format: every variable renders through a live server, each checked against the request sent', async (t) => {
  t.deepEqual([...LOG_FORMAT_VARIABLES].sort(), [...UWSGI_LOG_VARIABLES].sort(), 'nuwsgi knows exactly uWSGI\'s variables');
  const format = 'LF\t' + UWSGI_LOG_VARIABLES.map((v) => `${v}=%(${v})`).join('\t') + '\tx=%(var.HTTP_X_REQUEST_ID)\tnope=%(var.NOPE)\tm=%(metric.foo)\tother=%(not_a_variable)';
  const { server, nginx, proxy } = await obsStack(t, ['--processes', '2', '--memory-report', '--log-format', format], {
    proxy: true,
    locationExtra: 'uwsgi_param REMOTE_USER alice;',
  });
  const uri = '/status?code=201&size=7&q=a%20b';
  const headers = { 'User-Agent': 'obs agent/2.0 (log-format)', Referer: 'http://ref.example/page?x=1', 'X-Request-Id': 'rid-42' };
  const sent = await send(nginx, uri, { method: 'POST', body: 'abc', headers });
  t.is(sent.res.status, 201);
  const { packet, head } = exchangeAt(proxy!, 0);
  await until(() => lines(server.output()).some((l) => l.startsWith('LF\t')), 'the log-format line', 30_000);
  const line = lines(server.output()).find((l) => l.startsWith('LF\t'))!;
  const v: Record<string, string> = {};
  for (const part of line.split('\t').slice(1)) {
    const eq = part.indexOf('=');
    v[part.slice(0, eq)] = part.slice(eq + 1);
  }
  const pid = xpid(sent.res);
  const checked = new Set<string>();
  const is = (name: string, expected: string) => {
    checked.add(name);
    t.is(v[name], expected, `%(${name})`);
  };
  const holds = (name: string, ok: boolean, why: string) => {
    checked.add(name);
    t.true(ok, `%(${name}) = ${JSON.stringify(v[name])}: ${why}`);
  };
  // The request, as nginx passed it.
  is('uri', uri);
  is('method', 'POST');
  is('user', 'alice');
  is('addr', '127.0.0.1');
  is('host', '127.0.0.1'); // nginx's $host: the client's Host without the port
  is('proto', 'HTTP/1.1');
  is('uagent', headers['User-Agent']);
  is('referer', headers.Referer);
  is('cl', '3');
  is('vars', String(packet.pairs.length * 2));
  is('pktsize', String(packet.datasize));
  is('modifier1', '0');
  is('modifier2', '0');
  // The response, as nuwsgi sent it.
  is('status', '201');
  is('rsize', '7');
  is('hsize', String(head.hsize));
  is('size', String(head.hsize + head.rsize));
  is('headers', String(head.headers));
  is('rerr', '0');
  is('werr', '0');
  is('ioerr', '0');
  // Who served it.
  is('pid', String(pid));
  is('wid', String(workerIds(server).get(pid)));
  is('core', '0');
  is('switches', '1');
  // When: inside the client's window, and every rendering of the start agrees with the others.
  const time = Number(v.time);
  holds('time', secondsOf(sent).includes(time), 'a second inside the request');
  holds('tmsecs', Number(v.tmsecs) >= sent.before && Number(v.tmsecs) <= sent.after && Math.floor(Number(v.tmsecs) / 1000) === time, 'ms inside the request');
  holds('tmicros', Math.floor(Number(v.tmicros) / 1000) === Number(v.tmsecs), 'the same instant in µs');
  is('ctime', ctimeOf(time));
  is('ltime', ltimeOf(time));
  is('ftime', ltimeOf(time)); // without --logformat-strftime, uWSGI's ftime is ltime
  holds('epoch', Number(v.epoch) >= time && Number(v.epoch) <= Math.floor(sent.after / 1000) + 1, 'the end of the request');
  const micros = Number(v.micros);
  holds('micros', /^\d+$/.test(v.micros) && micros <= (sent.after - sent.before + 1) * 1000, 'whole µs, inside the request');
  is('msecs', String(Math.floor(micros / 1000)));
  holds('secs', /^\d+\.\d{1,6}$/.test(v.secs) && Math.abs(Number(v.secs) - micros / 1e6) < 1e-6 + micros * 1e-13, 'the same duration in seconds');
  // Memory (--memory-report): the serving worker's, plausible and consistent.
  const rss = Number(v.rss);
  const vsz = Number(v.vsz);
  holds('rss', rss > 5 * MB && rss < 4096 * MB, 'a Node worker\'s resident size');
  holds('vsz', vsz >= rss, 'the address space is at least the resident size');
  is('rssM', String(Math.floor(rss / MB)));
  is('vszM', String(Math.floor(vsz / MB)));
  t.deepEqual([...checked].sort(), [...UWSGI_LOG_VARIABLES].sort(), 'every variable was checked');
  // var.NAME, metric.NAME, and names that are neither: uWSGI's renderings.
  t.is(v.x, 'rid-42');
  t.is(v.nope, '-');
  t.is(v.m, '0');
  t.is(v.other, '-');
});

test('--log-format-json: one parseable JSON object per request line, fields as sent', async (t) => {
  const { server, nginx, proxy } = await obsStack(t, ['--processes', '1', '--log-format-json'], { proxy: true });
  const ua = 'quote " backslash \\ tab\tend ünï';
  const sends = [
    // Sent as UTF-8 bytes (node:http writes header strings as latin1, one byte per char).
    await send(nginx, '/hello?j=1', { headers: { 'User-Agent': Buffer.from(ua).toString('latin1'), Referer: 'http://r.example/"x"' } }),
    await send(nginx, '/status?code=404&size=3&j=2', { method: 'POST', body: 'abcd' }),
    await send(nginx, '/throw?j=3'),
  ];
  t.deepEqual(sends.map((s) => s.res.status), [200, 404, 500]);
  await until(() => lines(server.output()).filter((l) => l.startsWith('{')).length >= 3, 'three JSON lines', 30_000);
  const out = lines(server.output());
  t.is(out.filter((l) => l.includes('[pid: ')).length, 0, 'no default lines');
  const objects = out.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  t.is(objects.length, 3);
  const pid = spawnedWorkers(server.output())[0].pid;
  for (let i = 0; i < 3; i++) {
    const o = objects.find((x) => String(x.uri).includes(`j=${i + 1}`))!;
    t.truthy(o, `line for request ${i + 1}`);
    t.deepEqual(Object.keys(o), [...JSON_LINE_FIELDS]);
    const { packet, head } = exchangeAt(proxy!, i);
    t.like(o, {
      addr: '127.0.0.1',
      method: packet.get('REQUEST_METHOD'),
      uri: packet.get('REQUEST_URI'),
      proto: 'HTTP/1.1',
      status: head.status,
      rsize: head.rsize,
      hsize: head.hsize,
      size: head.rsize + head.hsize,
      headers: head.headers,
      vars: packet.pairs.length * 2,
      pktsize: packet.datasize,
      pid,
      wid: 1,
      ioerr: 0,
      host: '127.0.0.1',
    });
    for (const k of ['time', 'tmsecs', 'status', 'msecs', 'micros', 'size', 'rsize', 'hsize', 'headers', 'cl', 'vars', 'pktsize', 'pid', 'wid', 'rss', 'vsz']) {
      t.true(Number.isInteger(o[k]), `${k} is an integer`);
    }
    t.true((o.tmsecs as number) >= sends[i].before && (o.tmsecs as number) <= sends[i].after);
  }
  const first = objects.find((x) => String(x.uri).includes('j=1'))!;
  // The header's bytes go to the log as they came (as uWSGI writes them): read as UTF-8, the same text.
  t.is(first.uagent, ua, 'the header, escaped and intact');
  t.is(first.referer, 'http://r.example/"x"');
  t.is(objects.find((x) => String(x.uri).includes('j=2'))!.cl, 4);
});

test('--disable-logging with --log-4xx/5xx/slow/zero/big logs exactly the matching requests', async (t) => {
  // id -> (status, body bytes, slow)
  const REQS: { id: string; path: string; status: number; size: number; slow: boolean }[] = [
    { id: 'ok', path: '/status?code=200&size=10', status: 200, size: 10, slow: false },
    { id: 'notfound', path: '/status?code=404&size=10', status: 404, size: 10, slow: false },
    { id: 'error', path: '/status?code=500&size=10', status: 500, size: 10, slow: false },
    { id: 'slow', path: '/slow?ms=1200', status: 200, size: 4, slow: true },
    { id: 'zero', path: '/status?code=200&size=0', status: 200, size: 0, slow: false },
    { id: 'big', path: '/status?code=200&size=6000', status: 200, size: 6000, slow: false },
    { id: 'zero5xx', path: '/status?code=503&size=0', status: 503, size: 0, slow: false },
    { id: 'exactbig', path: '/status?code=200&size=5000', status: 200, size: 5000, slow: false },
  ];
  type R = (typeof REQS)[number];
  const CONFIGS: { args: string[]; logged: (r: R) => boolean }[] = [
    { args: ['--disable-logging'], logged: () => false },
    { args: ['--disable-logging', '--log-4xx'], logged: (r) => r.status >= 400 && r.status < 500 },
    { args: ['--disable-logging', '--log-5xx'], logged: (r) => r.status >= 500 },
    { args: ['--disable-logging', '--log-slow', '1000'], logged: (r) => r.slow },
    { args: ['--disable-logging', '--log-zero'], logged: (r) => r.size === 0 },
    { args: ['--disable-logging', '--log-big', '5000'], logged: (r) => r.size >= 5000 },
    {
      args: ['--disable-logging', '--log-4xx', '--log-5xx', '--log-slow', '1000', '--log-zero', '--log-big', '5000'],
      logged: (r) => r.status >= 400 || r.slow || r.size === 0 || r.size >= 5000,
    },
    // Without --disable-logging the conditions never suppress anything.
    { args: ['--log-4xx', '--log-big', '5000'], logged: () => true },
  ];
  const dir = tempDir(t);
  await Promise.all(
    CONFIGS.map(async (config, c) => {
      const stats = path.join(dir, `stats-${c}.sock`);
      const { server, nginx } = await obsStack(t, ['--processes', '1', '--stats', stats, ...config.args]);
      const results = await Promise.all(REQS.map((r) => send(nginx, `${r.path}&id=${r.id}`)));
      results.forEach((s, i) => t.is(s.res.status, REQS[i].status));
      // The worker counts a request where it logs it: once the stats show all of them, every line
      // that is coming has been written; a short bounded pause lets the master pass them on.
      await eventually(() => statsDoc({ path: stats }), (d) => d.workers[0].requests === REQS.length, 'every request counted');
      const expected = REQS.filter(config.logged).map((r) => r.id);
      if (expected.length > 0) {
        await until(() => expected.every((id) => server.output().includes(`&id=${id} => `)), `${config.args.join(' ')}: lines for ${expected}`, 30_000);
      }
      await sleep(300);
      const logged = requestLines(server.output()).map((l) => /&id=(\w+) => /.exec(parseDefault(t, l).uri + ' => ')?.[1]);
      t.deepEqual(logged.sort(), [...expected].sort(), config.args.join(' '));
    }),
  );
});

// ================================================================ 3. whole lines under load

test.serial('lines stay whole under load: 4 workers, 2000 requests with 3-5 KB URIs at concurrency 16, app printing multi-KB lines', async (t) => {
  const { server, nginx } = await obsStack(t, ['--processes', '4']);
  const N = 2000;
  const uris = Array.from({ length: N }, (_, i) => {
    const logBytes = 1000 + ((i * 7919) % 7000);
    const padLength = 3000 + ((i * 104_729) % 2001);
    const pad = `p${i}.`.repeat(Math.ceil(padLength / 4)).slice(0, padLength);
    return `/chatty?id=${i}&log=${logBytes}&pad=${pad}`;
  });
  const results = await pool(N, 16, (i) => send(nginx, uris[i]));
  t.true(results.every((s) => s.res.status === 200), 'every request answered 200');
  const APP_RE = /^APP (\d+) (\d+) (\d*) END$/;
  const countOf = (re: RegExp) => lines(server.output()).filter((l) => re.test(l)).length;
  await until(() => countOf(/^\[pid: /) >= N && countOf(/^APP /) >= N, 'every request line and app line', 60_000);
  await sleep(200);
  const byUri = new Map(uris.map((u, i) => [u, i]));
  const seenRequests = new Set<number>();
  const seenApp = new Set<number>();
  let fallback = 0;
  const bad: string[] = [];
  const other: string[] = [];
  for (const line of lines(server.output())) {
    if (line.startsWith('[pid: ')) {
      const f = DEFAULT_RE.exec(line)?.groups;
      if (!f) bad.push(line);
      else if (f.addr === '0.0.0.0' && f.method === '-' && f.uri === '-' && f.proto === '-') fallback++; // uWSGI's line for requests over 4 KB
      else {
        const i = byUri.get(f.uri);
        if (i === undefined || seenRequests.has(i) || f.method !== 'GET' || f.status !== '200' || f.rsize !== '2') bad.push(line);
        else seenRequests.add(i);
      }
    } else if (line.startsWith('APP ')) {
      const m = APP_RE.exec(line);
      const i = m ? Number(m[1]) : -1;
      if (!m || line.length !== Number(m[2]) || !/^(.)\1*$/.test(m[3]) || m[3][0] !== m[1].slice(-1) || seenApp.has(i)) bad.push(line);
      else seenApp.add(i);
    } else {
      other.push(line);
    }
  }
  t.deepEqual(bad.map((l) => l.slice(0, 200)), [], 'no broken or interleaved line');
  t.is(seenRequests.size + fallback, N, 'one request line per request');
  t.true(seenRequests.size > 0 && fallback > 0, `both the full line and uWSGI's over-4KB fallback appear (${seenRequests.size} full, ${fallback} fallback)`);
  t.is(seenApp.size, N, 'one app line per request');
  // Whatever else is in the log is the master's own lines, none of them carrying a fragment.
  t.deepEqual(other.filter((l) => /\[pid: |APP |END|pad=/.test(l)), []);
  t.true(other.length < 40, `only lifecycle lines besides (${other.length})`);
});

// ================================================================ 4. --logto and rotation

/** The id= of every request line in a log file's text, in order; fails on anything broken. */
function idsIn(t: ExecutionContext, text: string, what: string): number[] {
  t.false(text.includes('\0'), `${what}: no NUL bytes (a write at a stale offset after truncation)`);
  if (text !== '') t.true(text.endsWith('\n'), `${what}: ends with a whole line`);
  const ids: number[] = [];
  for (const line of lines(text)) {
    if (!line.includes('[pid: ')) continue;
    const f = parseDefault(t, line);
    const m = /[?&]id=(\d+)$/.exec(f.uri ?? '');
    if (m) ids.push(Number(m[1]));
    else t.fail(`${what}: unexpected request line ${line}`);
  }
  return ids;
}

test('--logto: copytruncate while traffic flows keeps logging, with no lost or garbled line after the truncation', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'app.log');
  const { server, nginx } = await obsStack(t, ['--processes', '2', '--logto', file]);
  t.false(/\[pid: |nuwsgi is ready/.test(server.output().split('*** Starting')[1] ?? ''), 'nothing but the banner on stderr');
  t.true(read(file).includes('nuwsgi is ready'));
  const N = 240;
  const ROTATE_AT = 80;
  await pool(N, 4, async (i) => {
    if (i === ROTATE_AT) {
      copyFileSync(file, `${file}.1`);
      truncateSync(file, 0);
    }
    const s = await send(nginx, `/status?code=200&size=3&id=${i}`);
    t.is(s.res.status, 200);
  });
  const after = Array.from({ length: N - ROTATE_AT - 3 }, (_, k) => ROTATE_AT + 3 + k); // started after the truncation
  await until(() => {
    const ids = new Set(lines(read(file)).map((l) => Number(/[?&]id=(\d+) => /.exec(l)?.[1] ?? -1)));
    return after.every((i) => ids.has(i));
  }, 'every request after the truncation in the log', 30_000);
  await sleep(200);
  const current = idsIn(t, read(file), 'truncated file');
  const copied = idsIn(t, read(`${file}.1`), 'copy');
  const all = [...copied, ...current];
  t.is(new Set(all).size, all.length, 'no line twice');
  t.true(after.every((i) => current.includes(i)), 'every line written after the truncation is in the file');
  t.true(copied.length > 0);
});

test('--logto: move-and-reopen (mv while traffic flows, no signal) continues in a new file, nothing lost', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'app.log');
  const { nginx } = await obsStack(t, ['--processes', '2', '--logto', file]);
  const N = 300;
  const MOVE_AT = 100;
  let movedAt = 0;
  await pool(N, 4, async (i) => {
    if (i === MOVE_AT) {
      renameSync(file, `${file}.1`);
      movedAt = Date.now();
    }
    t.is((await send(nginx, `/status?code=200&size=3&id=${i}`)).res.status, 200);
  });
  await until(() => existsSync(file), 'the log file to be recreated after the move (polled once a second)', 10_000);
  t.log(`new file after ${Date.now() - movedAt} ms or less`);
  // Traffic from now on lands in the new file.
  for (let i = N; i < N + 20; i++) t.is((await send(nginx, `/status?code=200&size=3&id=${i}`)).res.status, 200);
  const total = () => lines(read(file) + read(`${file}.1`)).filter((l) => l.includes('[pid: ')).length;
  await until(() => total() >= N + 20, 'every request line across both files', 30_000);
  await sleep(200);
  const moved = idsIn(t, read(`${file}.1`), 'moved file');
  const fresh = idsIn(t, read(file), 'new file');
  const all = [...moved, ...fresh].sort((a, b) => a - b);
  t.deepEqual(all, Array.from({ length: N + 20 }, (_, i) => i), 'every request exactly once across both files');
  for (let i = N; i < N + 20; i++) t.true(fresh.includes(i), `request ${i} (after the reopen) is in the new file`);
});

test('--logto: once the log has been moved away and reopened, no nuwsgi process keeps the old file open (logrotate can delete it and get the space back)', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'app.log');
  const { server, nginx } = await obsStack(t, ['--processes', '2', '--logto', file]);
  t.is((await send(nginx, '/status?code=200&size=1&id=0')).res.status, 200);
  renameSync(file, `${file}.1`);
  await until(() => existsSync(file), 'the log reopened after the move', 30_000);
  t.is((await send(nginx, '/status?code=200&size=1&id=1')).res.status, 200);
  await until(() => read(file).includes('&id=1 => '), 'the next line in the new file', 30_000);
  const holders: string[] = [];
  const workers = spawnedWorkers(read(`${file}.1`)).map((w) => w.pid); // the lifecycle lines are in the log file
  t.is(workers.length, 2);
  for (const pid of [server.pid, ...workers]) {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      let target = '';
      try {
        target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      if (target.startsWith(`${file}.1`)) holders.push(`pid ${pid} fd ${fd} -> ${target}`);
    }
  }
  t.deepEqual(holders, [], 'descriptors still open on the rotated file');
});

/** Writes command letters into a master FIFO (the master holds the read end open). */
function fifoWrite(fifo: string, letters: string): void {
  writeFileSync(fifo, letters);
}

test('--logto: FIFO l reopens, FIFO L rotates to FILE.<unix time>, --touch-logreopen and --touch-logrotate, and no rotated file is overwritten', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'app.log');
  const fifo = path.join(dir, 'fifo');
  const touchReopen = path.join(dir, 'reopen.trigger');
  const touchRotate = path.join(dir, 'rotate.trigger');
  writeFileSync(touchReopen, '');
  writeFileSync(touchRotate, '');
  const { nginx } = await obsStack(t, ['--processes', '1', '--logto', file, '--master-fifo', fifo, '--touch-logreopen', touchReopen, '--touch-logrotate', touchRotate]);
  let id = 0;
  const request = async (): Promise<number> => {
    const n = id++;
    t.is((await send(nginx, `/status?code=200&size=3&id=${n}`)).res.status, 200);
    await until(() => read(file).includes(`&id=${n} => `), `request ${n} in ${file}`, 30_000);
    return n;
  };
  let touches = 0;
  const touch = (f: string) => {
    const now = new Date();
    utimesSync(f, now, new Date(now.getTime() + 1000 * ++touches));
  };

  // FIFO l: the file was moved away; `l` makes a new one at once.
  const a = await request();
  renameSync(file, `${file}.moved`);
  fifoWrite(fifo, 'l');
  await until(() => read(file).includes(`master-fifo l: log file ${file} reopened`), 'FIFO l to reopen the log', 30_000);
  const b = await request();
  t.true(read(`${file}.moved`).includes(`&id=${a} => `));

  // FIFO L: FILE -> FILE.<unix time>, new FILE.
  const before = Math.floor(Date.now() / 1000);
  fifoWrite(fifo, 'L');
  await until(() => /master-fifo L: log file rotated to \S+/.test(read(file)), 'FIFO L to rotate the log', 30_000);
  const after = Math.floor(Date.now() / 1000);
  const rotated = /master-fifo L: log file rotated to (\S+)/.exec(read(file))![1];
  const stamp = Number(rotated.slice(file.length + 1));
  t.true(rotated.startsWith(`${file}.`) && stamp >= before && stamp <= after, `rotated to FILE.<unix time>: ${rotated}`);
  t.true(read(rotated).includes(`&id=${b} => `), 'the rotated file has the earlier lines');
  const c = await request();

  // --touch-logreopen, after another move.
  renameSync(file, `${file}.moved2`);
  touch(touchReopen);
  // The announcement may land in the old file (written before the reopen), the result is in the new.
  await until(() => (read(file) + read(`${file}.moved2`)).includes(`${touchReopen} has been touched... reopening the log`) && read(file).includes(`log file ${file} reopened`), 'touch-logreopen', 30_000);
  const d = await request();
  t.true(read(`${file}.moved2`).includes(`&id=${c} => `));

  // --touch-logrotate.
  touch(touchRotate);
  await until(() => /^log file rotated to \S+$/m.test(read(file)), 'touch-logrotate', 30_000);
  const rotatedByTouch = /^log file rotated to (\S+)$/m.exec(read(file))![1];
  t.true(read(rotatedByTouch).includes(`${touchRotate} has been touched... rotating the log`));
  const e = await request();

  // Two rotations in the same second must not overwrite the first rotated file.
  fifoWrite(fifo, 'LL');
  await until(() => readdirSync(dir).filter((n) => /^app\.log\.\d/.test(n)).length >= 4, 'two more rotated files', 30_000);
  const f = await request();

  // Every request line is in exactly one of the files.
  const texts = readdirSync(dir).filter((n) => n.startsWith('app.log')).map((n) => read(path.join(dir, n)));
  const ids = texts.flatMap((text, i) => idsIn(t, text, `file ${i}`)).sort((x, y) => x - y);
  t.deepEqual(ids, [a, b, c, d, e, f].sort((x, y) => x - y), 'every request line exactly once across the files');
});

// ================================================================ 5. disk full

test('a full disk under --logto: requests keep being served, dropped lines are reported on stderr, the file keeps whole lines, logging resumes once space is back', async (t) => {
  const dir = tempDir(t);
  const mnt = path.join(dir, 'small');
  mkdirSync(mnt);
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mnt]).status === 0;
  if (mounted) t.teardown(() => void spawnSync('umount', ['-l', mnt]));
  else t.log('cannot mount a tmpfs here: using /dev/full');
  const file = mounted ? path.join(mnt, 'app.log') : '/dev/full';
  const { server, nginx } = await obsStack(t, ['--processes', '2', '--logto', file]);
  const pad = 'x'.repeat(2500);
  const results = await pool(80, 4, (i) => send(nginx, `/status?code=200&size=5&id=${i}&pad=${pad}`));
  t.true(results.every((s) => s.res.status === 200), 'the server keeps serving');
  await server.waitFor(/cannot write to the log .*ENOSPC.*lines dropped/, 30_000);
  t.is((await send(nginx, '/status?code=200&size=5')).res.status, 200, 'still serving after the warning');
  if (!mounted) return;
  // Every line in the full file is whole: a short write at ENOSPC must not leave half a line.
  const full = read(file);
  t.true(full.length > 50_000, `the disk filled up (${full.length} bytes)`);
  t.true(full.endsWith('\n'), 'the file ends with a whole line');
  for (const line of lines(full)) if (line.includes('[pid: ')) parseDefault(t, line);
  // Space comes back (copytruncate's truncation frees the blocks at once): logging resumes.
  truncateSync(file, 0);
  t.is((await send(nginx, '/status?code=200&size=5&id=after')).res.status, 200);
  await until(() => read(file).includes('&id=after => '), 'logging to resume', 30_000);
  for (const line of lines(read(file))) if (line.includes('[pid: ')) parseDefault(t, line);
});

// ================================================================ 6. stats socket

interface StatsWorker {
  id: number;
  pid: number;
  requests: number;
  delta_requests: number;
  exceptions: number;
  harakiri_count: number;
  respawn_count: number;
  status: string;
  tx: number;
  avg_rt: number;
  running_time: number;
  last_spawn: number;
  rss: number;
  vsz: number;
  cores: { id: number; requests: number; in_request: number }[];
  apps: { requests: number }[];
}
interface StatsDoc {
  version: string;
  pid: number;
  listen_queue: number;
  load: number;
  cwd: string;
  uid: number;
  gid: number;
  sockets: { name: string; proto: string }[];
  workers: StatsWorker[];
}

/** Everything the stats server sends on one connection (read to EOF, as uwsgitop does). */
function statsRaw(addr: { path?: string; port?: number }): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = addr.path ? net.connect(addr.path) : net.connect(addr.port!, '127.0.0.1');
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (data += d));
    socket.on('end', () => resolve(data));
    socket.on('error', reject);
    socket.setTimeout(30_000, () => socket.destroy(new Error('stats server did not close the connection')));
  });
}

const statsDoc = async (addr: { path?: string; port?: number }): Promise<StatsDoc> => JSON.parse(await statsRaw(addr)) as StatsDoc;

const INT = 'int';
const TOP_FIELDS: Record<string, string> = { version: 'string', listen_queue: INT, listen_queue_errors: INT, signal_queue: INT, load: INT, pid: INT, uid: INT, gid: INT, cwd: 'string', locks: 'array', sockets: 'array', workers: 'array' };
const WORKER_FIELDS: Record<string, string> = {
  id: INT, pid: INT, accepting: INT, requests: INT, delta_requests: INT, exceptions: INT, harakiri_count: INT, signals: INT, signal_queue: INT,
  status: 'string', rss: INT, vsz: INT, running_time: INT, last_spawn: INT, respawn_count: INT, tx: INT, avg_rt: INT, apps: 'array', cores: 'array',
};
const CORE_FIELDS: Record<string, string> = { id: INT, requests: INT, static_requests: INT, routed_requests: INT, offloaded_requests: INT, write_errors: INT, read_errors: INT, in_request: INT, vars: 'array', req_info: 'object' };
const APP_FIELDS: Record<string, string> = { id: INT, modifier1: INT, mountpoint: 'string', startup_time: INT, requests: INT, exceptions: INT, chdir: 'string' };
const SOCKET_FIELDS: Record<string, string> = { name: 'string', proto: 'string', queue: INT, max_queue: INT, shared: INT, can_offload: INT };

function checkShape(t: ExecutionContext, value: unknown, fields: Record<string, string>, where: string): void {
  const o = value as Record<string, unknown>;
  for (const [k, type] of Object.entries(fields)) {
    const v = o[k];
    const ok =
      type === INT ? Number.isInteger(v) && (v as number) >= 0 : type === 'array' ? Array.isArray(v) : type === 'object' ? typeof v === 'object' && v !== null && !Array.isArray(v) : typeof v === type;
    t.true(ok, `${where}.${k} should be ${type}, is ${JSON.stringify(v)}`);
  }
}

function checkStatsDoc(t: ExecutionContext, doc: StatsDoc, server: ServerInstance): void {
  checkShape(t, doc, TOP_FIELDS, 'stats');
  t.is(doc.pid, server.pid);
  doc.sockets.forEach((s, i) => checkShape(t, s, SOCKET_FIELDS, `sockets[${i}]`));
  doc.workers.forEach((w, i) => {
    checkShape(t, w, WORKER_FIELDS, `workers[${i}]`);
    t.true(['idle', 'busy', 'cheap', 'pause'].includes(w.status) || /^sig\d+$/.test(w.status), `status ${w.status}`);
    t.true(w.last_spawn <= Date.now() / 1000 + 1 && w.last_spawn > Date.now() / 1000 - 600, 'last_spawn is a recent unix time');
    t.true(w.cores.length >= 1 && w.apps.length >= 1);
    w.cores.forEach((c, j) => checkShape(t, c, CORE_FIELDS, `workers[${i}].cores[${j}]`));
    w.apps.forEach((a, j) => checkShape(t, a, APP_FIELDS, `workers[${i}].apps[${j}]`));
  });
}

/**
 * uwsgitop's reading of the stats, in Python, step for step (xrmx/uwsgitop): the transport
 * (unix, host:port, http://), its sums, RPS, human sizes, avg_rt/1000, running_time/1000, the
 * last-spawn clock, the core merge of its async modes, and every row's % formatting, without the
 * curses calls and without the try/except around each row, so a field it cannot format fails here.
 */
const UWSGITOP = String.raw`
import json, socket, sys, time
from collections import defaultdict
try:
    import urllib2
except ImportError:
    import urllib.request as urllib2

def human_size(n):
    if n >= (1024*1024*1024):
        return "%.1fG" % (n/(1024*1024*1024))
    if n >= (1024*1024):
        return "%.1fM" % (n/(1024*1024))
    if n >= 1024:
        return "%.1fK" % (n/1024)
    return "%d" % n

address = sys.argv[1]
http_stats = False
if address.startswith('http://'):
    http_stats = True
    addr = address
    host = addr.split('//')[1].split(':')[0]
elif ':' in address:
    h, port = address.rsplit(':', 1)
    sfamily, addr, host = socket.AF_INET, (h, int(port)), h
else:
    sfamily, addr, host = socket.AF_UNIX, address, socket.gethostname()

def reqcount(item):
    return item['requests']

def calc_percent(tot, req):
    if tot == 0:
        return 0.0
    return (100 * float(req)) / float(tot)

def merge_worker_with_cores(workers, rps_per_worker, cores, rps_per_core):
    workers_by_id = dict([(w['id'], w) for w in workers])
    new_workers = []
    for wid, w_cores in cores.items():
        for core in w_cores:
            cid = core['id']
            data = dict(workers_by_id.get(wid))
            data.update(core)
            if data['status'] == 'busy' and not core['in_request']:
                data['status'] = '-'
            new_wid = "{0}:{1}".format(wid, cid)
            data['id'] = new_wid
            rps_per_worker[new_wid] = rps_per_core[wid, cid]
            new_workers.append(data)
    workers[:] = new_workers

last_tot_time = time.time() - 1
last_reqnumber_per_worker = defaultdict(int)
last_reqnumber_per_core = defaultdict(int)

for async_mode in (0, 1, 2):
    js = ''
    if http_stats:
        r = urllib2.urlopen(addr)
        js = r.read().decode('utf8', 'ignore')
    else:
        s = socket.socket(sfamily, socket.SOCK_STREAM)
        s.connect(addr)
        while True:
            data = s.recv(4096)
            if len(data) < 1:
                break
            js += data.decode('utf8', 'ignore')
        s.close()
    dd = json.loads(js)
    uversion = ''
    if 'version' in dd:
        uversion = '-' + dd['version']
    if 'listen_queue' not in dd:
        dd['listen_queue'] = 0
    cwd = "- cwd: %s" % dd['cwd'] if 'cwd' in dd else ""
    uid = "- uid: %d" % dd['uid'] if 'uid' in dd else ""
    gid = "- gid: %d" % dd['gid'] if 'gid' in dd else ""
    masterpid = "- masterpid: %d" % dd['pid'] if 'pid' in dd else ""
    print("MODE %d" % async_mode)
    print("node: %s %s %s %s %s" % (host, cwd, uid, gid, masterpid))
    tot = sum([worker['requests'] for worker in dd['workers']])
    rps_per_worker = {}
    rps_per_core = {}
    cores = defaultdict(list)
    dt = time.time() - last_tot_time
    total_rps = 0
    for worker in dd['workers']:
        wid = worker['id']
        curr_reqnumber = worker['requests']
        last_reqnumber = last_reqnumber_per_worker[wid]
        rps_per_worker[wid] = (curr_reqnumber - last_reqnumber) / dt
        total_rps += rps_per_worker[wid]
        last_reqnumber_per_worker[wid] = curr_reqnumber
        if not async_mode:
            continue
        for core in worker.get('cores', []):
            if not core['requests']:
                continue
            wcid = (wid, core['id'])
            curr_reqnumber = core['requests']
            last_reqnumber = last_reqnumber_per_core[wcid]
            rps_per_core[wcid] = (curr_reqnumber - last_reqnumber) / dt
            last_reqnumber_per_core[wcid] = curr_reqnumber
            cores[wid].append(core)
        cores[wid].sort(key=reqcount)
    last_tot_time = time.time()
    if async_mode == 1:
        merge_worker_with_cores(dd['workers'], rps_per_worker, cores, rps_per_core)
    tx = human_size(sum([worker['tx'] for worker in dd['workers']]))
    print("uwsgi%s - %s - req: %d - RPS: %d - lq: %d - tx: %s" % (uversion, time.ctime(), tot, int(round(total_rps)), dd['listen_queue'], tx))
    dd['workers'].sort(key=reqcount, reverse=True)
    for worker in dd['workers']:
        sigs = 0
        wtx = human_size(worker['tx'])
        wlastspawn = "--:--:--"
        wrunt = worker['running_time']/1000
        if wrunt > 9999999:
            wrunt = "%sm" % str(wrunt / (1000*60))
        else:
            wrunt = str(wrunt)
        if worker['last_spawn']:
            wlastspawn = time.strftime("%H:%M:%S", time.localtime(worker['last_spawn']))
        if 'signals' in worker:
            sigs = worker['signals']
        for st in ('busy', 'cheap', 'pause'):
            worker['status'] == st
        worker['status'].startswith('sig')
        wid = worker['id']
        rps = int(round(rps_per_worker[wid]))
        print("ROW %s\t%.1f\t%d\t%d\t%d\t%d\t%d\t%s\t%dms\t%s\t%s\t%s\t%s\t%s\t%s\t%s" % (
            wid, calc_percent(tot, worker['requests']), worker['pid'], worker['requests'], rps, worker['exceptions'], sigs, worker['status'],
            worker['avg_rt']/1000, human_size(worker['rss']), human_size(worker['vsz']),
            wtx, worker['respawn_count'], worker['harakiri_count'], wrunt, wlastspawn))
        if async_mode != 2:
            continue
        for core in cores[wid]:
            status = 'busy' if core['in_request'] else 'idle'
            cid = core['id']
            rps = int(round(rps_per_core[wid, cid]))
            print("CORE :%s\t%.1f\t-\t%d\t%d\t-\t-\t%s\t-\t-\t-\t-\t-" % (cid, calc_percent(tot, core['requests']), core['requests'], rps, status))
`;

interface TopRow {
  wid: string;
  pid: number;
  requests: number;
  exceptions: number;
  status: string;
  avgMs: number;
  rss: string;
  tx: string;
  respawn: number;
  harakiri: number;
}

/** Runs the uwsgitop reader against `address`; fails the test if Python raised. */
async function uwsgitop(t: ExecutionContext, address: string): Promise<{ totals: string[]; rows: TopRow[][] }> {
  const dir = tempDir(t);
  const script = path.join(dir, 'uwsgitop-reader.py');
  writeFileSync(script, UWSGITOP);
  const { code, out } = await new Promise<{ code: number | null; out: string }>((resolve) => {
    const child = spawn('python3', [script, address], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('close', (c) => {
      clearTimeout(timer);
      resolve({ code: c, out });
    });
  });
  t.is(code, 0, `uwsgitop's computations raised:\n${out}`);
  const totals: string[] = [];
  const rows: TopRow[][] = [];
  for (const line of lines(out)) {
    if (line.startsWith('MODE ')) rows.push([]);
    else if (line.startsWith('uwsgi')) totals.push(line);
    else if (line.startsWith('ROW ')) {
      const f = line.slice(4).split('\t');
      rows.at(-1)!.push({
        wid: f[0],
        pid: Number(f[2]),
        requests: Number(f[3]),
        exceptions: Number(f[5]),
        status: f[7],
        avgMs: Number(f[8].replace(/ms$/, '')),
        rss: f[9],
        tx: f[11],
        respawn: Number(f[12]),
        harakiri: Number(f[13]),
      });
    }
  }
  t.is(rows.length, 3, `three screens read:\n${out}`);
  return { totals, rows };
}

function humanSize(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(1)}G`;
  if (n >= MB) return `${(n / MB).toFixed(1)}M`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)}K`;
  return String(Math.trunc(n));
}

test('stats socket (unix path): uWSGI\'s fields and types, counters moving with traffic through nginx, and uwsgitop\'s computations', async (t) => {
  const dir = tempDir(t);
  const stats = path.join(dir, 'stats.sock');
  const { server, nginx, proxy } = await obsStack(t, ['--processes', '2', '--harakiri', '2', '--stats', stats], { proxy: true });
  const addr = { path: stats };
  const doc0 = await statsDoc(addr);
  checkStatsDoc(t, doc0, server);
  t.deepEqual(doc0.workers.map((w) => [w.id, w.pid, w.requests, w.respawn_count, w.status]), spawnedWorkers(server.output()).map((w) => [w.id, w.pid, 0, 0, 'idle']));
  t.is(doc0.sockets[0].name, server.socket);
  t.is(doc0.sockets[0].proto, 'uwsgi');

  // Traffic: 10 answers of known sizes, 2 not found, one throwing handler, one harakiri (504).
  const plain = await pool(12, 4, (i) => send(nginx, i < 10 ? `/status?code=200&size=${100 * i}` : '/status?code=404&size=5'));
  t.true(plain.every((s, i) => s.res.status === (i < 10 ? 200 : 404)));
  t.is((await send(nginx, '/throw')).res.status, 500);
  t.is((await send(nginx, '/hang')).res.status, 504);
  const SENT = 14;
  const doc1 = await eventually(() => statsDoc(addr), (d) => d.workers.reduce((n, w) => n + w.requests, 0) >= SENT, `${SENT} requests in the stats`);
  checkStatsDoc(t, doc1, server);
  const sum = (d: StatsDoc, f: (w: StatsWorker) => number) => d.workers.reduce((n, w) => n + f(w), 0);
  t.is(sum(doc1, (w) => w.requests), SENT, 'requests sum to the requests sent');
  t.is(sum(doc1, (w) => w.delta_requests), SENT);
  t.is(sum(doc1, (w) => w.cores[0].requests), SENT);
  t.is(sum(doc1, (w) => w.exceptions), 1, 'the throwing handler is an exception');
  t.is(sum(doc1, (w) => w.harakiri_count), 1, 'the 504 is a harakiri');
  const sentBytes = proxy!.exchanges.reduce((n, ex) => n + Buffer.concat(ex.res).length, 0);
  t.is(sum(doc1, (w) => w.tx), sentBytes, 'tx is every byte the workers sent');
  for (const w of doc1.workers) {
    t.true(w.requests >= plain.filter((s) => xpid(s.res) === w.pid).length, `worker ${w.id} counted what it served`);
    if (w.requests > 0) t.true(w.avg_rt > 0 && w.running_time >= w.avg_rt / 2, `worker ${w.id}: avg_rt ${w.avg_rt} and running_time ${w.running_time} in µs`);
    t.is(w.status, 'idle');
  }

  // Busy while a slow request runs.
  const slow = send(nginx, '/slow?ms=1500');
  const busy = await eventually(() => statsDoc(addr), (d) => d.workers.some((w) => w.status === 'busy'), 'a busy worker');
  const b = busy.workers.find((w) => w.status === 'busy')!;
  t.is(b.cores[0].in_request, 1);
  t.true(busy.load >= 1);
  t.is((await slow).res.status, 200);
  await eventually(() => statsDoc(addr), (d) => d.workers.every((w) => w.status === 'idle') && sum(d, (w) => w.requests) === SENT + 1, 'idle again');

  // What uwsgitop would show.
  const top = await uwsgitop(t, stats);
  const doc2 = await statsDoc(addr);
  for (const line of top.totals) t.true(line.includes(` - req: ${SENT + 1} - `) && line.endsWith(` - tx: ${humanSize(sum(doc2, (w) => w.tx))}`), line);
  for (const row of top.rows[0]) {
    const w = doc2.workers.find((x) => x.pid === row.pid)!;
    t.truthy(w, `row for pid ${row.pid}`);
    t.like(row, { wid: String(w.id), requests: w.requests, exceptions: w.exceptions, status: w.status, respawn: w.respawn_count, harakiri: w.harakiri_count, avgMs: Math.trunc(w.avg_rt / 1000), tx: humanSize(w.tx) });
    t.regex(row.rss, /^\d+\.\dM$/);
  }
  t.true(top.rows[1].every((r) => /^\d+:0$/.test(r.wid)), 'async mode 1 merges core 0 into each worker');

  // A killed worker: its slot keeps its requests and counts a respawn.
  const victim = doc2.workers[0];
  process.kill(victim.pid, 'SIGKILL');
  const doc3 = await eventually(() => statsDoc(addr), (d) => d.workers.some((w) => w.id === victim.id && w.pid !== victim.pid && w.respawn_count === 1), `worker ${victim.id} respawned`);
  checkStatsDoc(t, doc3, server);
  const again = doc3.workers.find((w) => w.id === victim.id)!;
  t.is(again.requests, victim.requests, 'the slot keeps the requests of its earlier process');
  t.is(again.delta_requests, 0);
  t.is(sum(doc3, (w) => w.requests), SENT + 1);
  const top2 = await uwsgitop(t, stats);
  t.is(top2.rows[0].find((r) => r.pid === again.pid)?.respawn, 1);
});

test('stats socket on 127.0.0.1:port, and with --stats-http --stats-minified: the same document, readable by uwsgitop', async (t) => {
  const [plainPort, httpPort] = [await freePort(), await freePort()];
  const plain = await startObs(t, ['--processes', '2', '--stats', `127.0.0.1:${plainPort}`]);
  const http = await startObs(t, ['--processes', '1', '--stats', `127.0.0.1:${httpPort}`, '--stats-http', '--stats-minified']);

  const doc = JSON.parse(await statsRaw({ port: plainPort })) as StatsDoc;
  checkStatsDoc(t, doc, plain);
  t.is(doc.workers.length, 2);
  const top = await uwsgitop(t, `127.0.0.1:${plainPort}`);
  t.deepEqual(top.rows[0].map((r) => r.pid).sort(), doc.workers.map((w) => w.pid).sort());

  const raw = await statsRaw({ port: httpPort });
  const split = raw.indexOf('\r\n\r\n');
  const head = raw.slice(0, split).split('\r\n');
  const body = raw.slice(split + 4);
  t.regex(head[0], /^HTTP\/1\.[01] 200 OK$/);
  t.true(head.some((h) => /^content-type: application\/json/i.test(h)));
  t.true(head.some((h) => h.toLowerCase() === `content-length: ${Buffer.byteLength(body)}`));
  t.false(/\n/.test(body), 'minified');
  checkStatsDoc(t, JSON.parse(body) as StatsDoc, http);
  const topHttp = await uwsgitop(t, `http://127.0.0.1:${httpPort}`);
  t.is(topHttp.rows[0].length, 1);
});

// ================================================================ 7. Prometheus metrics

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
interface Family {
  name: string;
  type?: string;
  help?: string;
  samples: Sample[];
}

const METRIC_NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const VALUE_RE = /^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]Inf|NaN)$/;

/**
 * A strict reader of the Prometheus text format 0.0.4: HELP and TYPE at most once per family and
 * before its samples, every sample of a declared family, families contiguous, label values
 * properly escaped, no duplicate series, counters non-negative, histograms with cumulative
 * buckets ending in +Inf = _count and a _sum.
 */
function parsePrometheus(text: string): Map<string, Family> {
  if (!text.endsWith('\n')) throw new Error('exposition must end with a newline');
  const families = new Map<string, Family>();
  const series = new Set<string>();
  const finished = new Set<string>();
  let current: Family | undefined;
  const family = (name: string) => {
    let f = families.get(name);
    if (!f) families.set(name, (f = { name, samples: [] }));
    if (current && current !== f) {
      finished.add(current.name);
      if (finished.has(name)) throw new Error(`family ${name} is not contiguous`);
    }
    current = f;
    return f;
  };
  text
    .slice(0, -1)
    .split('\n')
    .forEach((line, i) => {
      const at = `line ${i + 1} ${JSON.stringify(line)}`;
      let m: RegExpExecArray | null;
      if ((m = new RegExp(`^# HELP (${METRIC_NAME}) (.*)$`).exec(line))) {
        const f = family(m[1]);
        if (f.help !== undefined || f.samples.length) throw new Error(`${at}: HELP repeated or after samples`);
        if (/\\[^\\n]/.test(m[2].replace(/\\\\/g, ''))) throw new Error(`${at}: bad escape in HELP`);
        f.help = m[2];
        return;
      }
      if ((m = new RegExp(`^# TYPE (${METRIC_NAME}) (counter|gauge|histogram|summary|untyped)$`).exec(line))) {
        const f = family(m[1]);
        if (f.type !== undefined || f.samples.length) throw new Error(`${at}: TYPE repeated or after samples`);
        f.type = m[2];
        return;
      }
      if (line.startsWith('#')) throw new Error(`${at}: unexpected comment`);
      m = new RegExp(`^(${METRIC_NAME})(?:\\{(.*)\\})? (\\S+)(?: -?\\d+)?$`).exec(line);
      if (!m) throw new Error(`${at}: not a sample`);
      const [, name, labelText, valueText] = m;
      if (!VALUE_RE.test(valueText)) throw new Error(`${at}: bad value`);
      const labels: Record<string, string> = {};
      if (labelText !== undefined) {
        const labelRe = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\["\\n])*)"(,|$)/y;
        let pos = 0;
        while (pos < labelText.length) {
          labelRe.lastIndex = pos;
          const l = labelRe.exec(labelText);
          if (!l) throw new Error(`${at}: bad labels`);
          if (l[1] in labels) throw new Error(`${at}: label ${l[1]} twice`);
          labels[l[1]] = l[2].replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
          pos = labelRe.lastIndex;
        }
      }
      const base = /^(.*)_(bucket|sum|count)$/.exec(name);
      const owner = base && families.get(base[1])?.type === 'histogram' ? base[1] : name;
      const f = family(owner);
      if (!f.type) throw new Error(`${at}: sample without a TYPE`);
      if (f.type === 'histogram' && owner === name) throw new Error(`${at}: a histogram sample must be _bucket, _sum or _count`);
      const key = name + JSON.stringify(Object.entries(labels).sort());
      if (series.has(key)) throw new Error(`${at}: duplicate series`);
      series.add(key);
      const value = Number(valueText.replace('Inf', 'Infinity'));
      if (f.type === 'counter' && !(value >= 0)) throw new Error(`${at}: a counter must be >= 0`);
      f.samples.push({ name, labels, value });
    });
  for (const f of families.values()) {
    if (!f.type) throw new Error(`family ${f.name} has no TYPE`);
    if (f.type !== 'histogram') continue;
    const buckets = f.samples.filter((s) => s.name === `${f.name}_bucket`);
    const les = buckets.map((s) => Number((s.labels.le ?? 'x').replace('+Inf', 'Infinity')));
    if (les.some(Number.isNaN) || les.at(-1) !== Infinity) throw new Error(`${f.name}: buckets must have le and end at +Inf`);
    for (let i = 1; i < buckets.length; i++) {
      if (!(les[i] > les[i - 1]) || buckets[i].value < buckets[i - 1].value) throw new Error(`${f.name}: buckets must be increasing and cumulative`);
    }
    const count = f.samples.find((s) => s.name === `${f.name}_count`);
    if (!count || count.value !== buckets.at(-1)!.value) throw new Error(`${f.name}: _count must equal the +Inf bucket`);
    if (!f.samples.some((s) => s.name === `${f.name}_sum`)) throw new Error(`${f.name}: no _sum`);
  }
  return families;
}

function metric(fams: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  const base = /^(.*)_(bucket|sum|count)$/.exec(name);
  const f = fams.get(name) ?? (base ? fams.get(base[1]) : undefined);
  const s = f?.samples.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  if (!s) throw new Error(`no sample ${name} ${JSON.stringify(labels)}`);
  return s.value;
}

async function scrape(port: number): Promise<Map<string, Family>> {
  const res = await httpRequest({ method: 'GET', url: `http://127.0.0.1:${port}/metrics`, timeoutMs: 30_000 });
  if (res.status !== 200) throw new Error(`GET /metrics: ${res.status}`);
  if (!/^text\/plain; version=0\.0\.4/.test(String(res.headers['content-type']))) throw new Error(`content-type ${res.headers['content-type']}`);
  return parsePrometheus(res.body.toString('utf8'));
}

const byClass = (m: Map<string, Family>) => ['1xx', '2xx', '3xx', '4xx', '5xx'].map((code) => metric(m, 'nuwsgi_requests_total', { code }));
const total = (m: Map<string, Family>) => byClass(m).reduce((a, b) => a + b, 0);

test('metrics: strict Prometheus text; counters match the traffic by status class; in-flight, respawns, reloads, harakiri move; totals survive a SIGKILL and a chain reload', async (t) => {
  const port = await freePort();
  const { server, nginx } = await obsStack(t, ['--processes', '2', '--harakiri', '2', '--metrics', `127.0.0.1:${port}`]);
  const m0 = await scrape(port);
  t.deepEqual(byClass(m0), [0, 0, 0, 0, 0]);
  t.is(metric(m0, 'nuwsgi_request_duration_seconds_count'), 0);
  t.is(metric(m0, 'nuwsgi_workers'), 2);
  t.is(metric(m0, 'nuwsgi_requests_in_flight'), 0);
  for (const name of ['nuwsgi_worker_respawns_total', 'nuwsgi_reloads_total', 'nuwsgi_harakiri_total', 'nuwsgi_exceptions_total']) t.is(metric(m0, name), 0, name);
  t.true(Math.abs(metric(m0, 'nuwsgi_start_time_seconds') - Date.now() / 1000) < 600);
  t.is(metric(m0, 'nuwsgi_listen_queue', { socket: server.socket }), 0);
  const notFound = await (await httpRequest({ method: 'GET', url: `http://127.0.0.1:${port}/other` })).status;
  t.is(notFound, 404);

  // Known traffic: 12 x 200, 5 x 404, 3 x 500 and 2 throwing handlers (500s).
  const plan = [...Array(12).fill('/status?code=200&size=20'), ...Array(5).fill('/status?code=404&size=5'), ...Array(3).fill('/status?code=500&size=5'), '/throw', '/throw'];
  const results = await pool(plan.length, 4, (i) => send(nginx, plan[i]));
  t.deepEqual(results.map((s) => s.res.status).sort(), [...Array(12).fill(200), ...Array(5).fill(404), ...Array(5).fill(500)].sort());
  const m1 = await eventually(() => scrape(port), (m) => total(m) >= plan.length, 'the traffic in the metrics');
  t.deepEqual(byClass(m1), [0, 12, 0, 5, 5], 'requests by status class');
  t.is(metric(m1, 'nuwsgi_request_duration_seconds_count'), plan.length, 'histogram count = requests');
  t.true(metric(m1, 'nuwsgi_request_duration_seconds_sum') > 0);
  t.is(metric(m1, 'nuwsgi_exceptions_total'), 2);
  t.true(metric(m1, 'nuwsgi_response_bytes_total') > 12 * 20);
  const perWorker = m1.get('nuwsgi_worker_requests_total')!.samples;
  t.is(perWorker.reduce((n, s) => n + s.value, 0), plan.length);
  t.true(m1.get('nuwsgi_worker_rss_bytes')!.samples.every((s) => s.value > MB));

  // In flight while a slow request runs.
  const slow = send(nginx, '/slow?ms=1500');
  await eventually(() => scrape(port), (m) => metric(m, 'nuwsgi_requests_in_flight') >= 1, 'a request in flight');
  t.is((await slow).res.status, 200);
  await eventually(() => scrape(port), (m) => metric(m, 'nuwsgi_requests_in_flight') === 0 && total(m) === plan.length + 1, 'nothing in flight');

  // Harakiri: the request is cut with a 504 and counted.
  t.is((await send(nginx, '/hang')).res.status, 504);
  const m2 = await eventually(() => scrape(port), (m) => metric(m, 'nuwsgi_harakiri_total') >= 1, 'the harakiri in the metrics');
  t.is(metric(m2, 'nuwsgi_harakiri_total'), 1);
  const served = plan.length + 2;
  await eventually(() => scrape(port), (m) => metric(m, 'nuwsgi_request_duration_seconds_count') === served, 'the 504 in the histogram');

  // A SIGKILLed worker: one respawn; its requests stay in the totals.
  const before = await scrape(port);
  const victim = xpid((await send(nginx, '/status?code=200&size=1')).res);
  const beforeKill = await eventually(() => scrape(port), (m) => metric(m, 'nuwsgi_request_duration_seconds_count') === served + 1, 'the last request counted');
  // Killed in the middle of a scrape (frozen first, so the scrape waits for its report): counted once.
  process.kill(victim, 'SIGSTOP');
  const scraping = scrape(port);
  await sleep(50);
  process.kill(victim, 'SIGKILL');
  const mid = await scraping;
  t.deepEqual([...byClass(mid), metric(mid, 'nuwsgi_request_duration_seconds_count')], [...byClass(beforeKill), served + 1], 'a worker dying during a scrape is not counted twice');
  const gone = (m: Map<string, Family>) => !m.get('nuwsgi_worker_rss_bytes')!.samples.some((s) => s.labels.pid === String(victim));
  const m3 = await eventually(() => scrape(port), (m) => metric(m, 'nuwsgi_worker_respawns_total') >= 1 && metric(m, 'nuwsgi_workers') === 2 && gone(m), 'the respawn');
  t.is(metric(m3, 'nuwsgi_worker_respawns_total'), 1, lines(server.output()).filter((l) => !l.startsWith('[pid: ')).join('\n'));
  t.deepEqual(byClass(m3), byClass(beforeKill), 'no request lost with the killed worker');
  t.is(metric(m3, 'nuwsgi_request_duration_seconds_count'), served + 1);
  t.true(total(before) <= total(m3));

  // A chain reload (SIGHUP): one reload, two more respawns, totals exactly kept, and never off by
  // one while it runs (scraped throughout: a counter that goes back is a reset to Prometheus).
  const retired = () => (server.output().match(/worker \d+ killed successfully/g) ?? []).length;
  process.kill(server.pid, 'SIGHUP');
  const during: number[][] = [];
  const m4 = await eventually(
    async () => {
      const m = await scrape(port);
      during.push([...byClass(m), metric(m, 'nuwsgi_request_duration_seconds_count')]);
      return m;
    },
    (m) => metric(m, 'nuwsgi_reloads_total') >= 1 && retired() >= 2,
    'the reload, both old workers gone',
  );
  t.deepEqual(during.filter((v) => JSON.stringify(v) !== JSON.stringify([...byClass(m3), served + 1])), [], `totals scraped during the reload (${during.length} scrapes)`);
  t.is(metric(m4, 'nuwsgi_reloads_total'), 1);
  t.is(metric(m4, 'nuwsgi_worker_respawns_total'), 3);
  t.deepEqual(byClass(m4), byClass(m3), 'totals survive the chain reload (exited workers are folded in)');
  t.is(metric(m4, 'nuwsgi_request_duration_seconds_count'), served + 1);
  t.is(metric(m4, 'nuwsgi_exceptions_total'), 2);
  t.is(metric(m4, 'nuwsgi_harakiri_total'), 1);
  t.true(metric(m4, 'nuwsgi_response_bytes_total') >= metric(m3, 'nuwsgi_response_bytes_total'));

  // New traffic adds to them.
  await pool(6, 3, () => send(nginx, '/status?code=200&size=1'));
  const m5 = await eventually(() => scrape(port), (m) => metric(m, 'nuwsgi_request_duration_seconds_count') >= served + 7, 'the new traffic');
  t.is(metric(m5, 'nuwsgi_request_duration_seconds_count'), served + 7);
  t.is(metric(m5, 'nuwsgi_requests_total', { code: '2xx' }) - metric(m4, 'nuwsgi_requests_total', { code: '2xx' }), 6);
});

test('a request in flight during a chain reload is counted and logged when it finishes in the retiring worker', async (t) => {
  const port = await freePort();
  const { server, nginx } = await obsStack(t, ['--processes', '1', '--metrics', `127.0.0.1:${port}`]);
  const slow = send(nginx, '/slow?ms=1500&id=drained');
  await server.waitFor(/spawned nuwsgi worker 1/, 30_000);
  await eventually(() => scrape(port), (m) => metric(m, 'nuwsgi_requests_in_flight') === 1, 'the request in flight');
  process.kill(server.pid, 'SIGHUP');
  t.is((await slow).res.status, 200);
  await server.waitFor(/worker 1 killed successfully/, 30_000);
  const m = await scrape(port);
  t.is(metric(m, 'nuwsgi_request_duration_seconds_count'), 1, 'counted');
  t.is(metric(m, 'nuwsgi_requests_total', { code: '2xx' }), 1);
  t.true(server.output().includes(' GET /slow?ms=1500&id=drained => '), 'logged');
});

test('harakiri 504: the request line and the metrics say 504, with the head and body nuwsgi sent', async (t) => {
  const port = await freePort();
  const { server, nginx, proxy } = await obsStack(t, ['--processes', '1', '--harakiri', '1', '--metrics', `127.0.0.1:${port}`], { proxy: true });
  const sent = await send(nginx, '/hang?h=1');
  t.is(sent.res.status, 504);
  await until(() => server.output().includes(' GET /hang?h=1 => '), 'the line for the cut request', 30_000);
  const line = parseDefault(t, requestLines(server.output()).find((l) => l.includes('/hang?h=1'))!);
  const { head } = exchangeAt(proxy!, 0);
  t.like(line, { status: '504', headers: String(head.headers), hsize: String(head.hsize), rsize: String(head.rsize) });
  const m = await eventually(() => scrape(port), (x) => total(x) >= 1, 'the 504 in the metrics');
  t.deepEqual(byClass(m), [0, 0, 0, 0, 1], 'counted as a 5xx');
});

// ================================================================ 8. FIFO s

test('FIFO s prints one stats line per worker, with its pid, status and requests', async (t) => {
  const dir = tempDir(t);
  const fifo = path.join(dir, 'fifo');
  const { server, nginx } = await obsStack(t, ['--processes', '2', '--master-fifo', fifo]);
  const served = await pool(6, 3, () => send(nginx, '/pid'));
  const pids = spawnedWorkers(server.output());
  // Heartbeats carry the counts to the master: ask again until they have all arrived (bounded).
  let report: RegExpMatchArray[] = [];
  let asked = 0;
  await until(() => {
    const text = server.output();
    const start = text.lastIndexOf('nuwsgi stats: ');
    report = start < 0 ? [] : [...text.slice(start).matchAll(/^worker (\d+) pid (\d+) status (\S+) requests (\d+) in-flight (\d+) rss (\S+ MB) running \d+s$/gm)];
    if (report.length === 2 && report.reduce((n, m) => n + Number(m[4]), 0) === 6) return true;
    if (Date.now() - asked > 300) {
      asked = Date.now();
      fifoWrite(fifo, 's');
    }
    return false;
  }, 'a FIFO s report with every request', 30_000);
  t.regex(server.output(), new RegExp(`nuwsgi stats: master pid ${server.pid}, 2 workers, 0 workers retiring`));
  t.deepEqual(report.map((m) => [Number(m[1]), Number(m[2])]), pids.map((w) => [w.id, w.pid]));
  for (const m of report) {
    t.is(m[3], 'idle');
    t.is(Number(m[4]), served.filter((s) => s.res.body.toString() === `pid=${m[2]}`).length, `worker ${m[1]}'s requests`);
  }
});
