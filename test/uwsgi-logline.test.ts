// The request log against the real uWSGI: Debian's uwsgi-core with the python3 plugin serves a
// tiny WSGI app on a unix socket; the test sends it uwsgi packets it builds itself, reads uWSGI's
// request log line from stderr, builds the RequestRecord describing the same request and
// response (the mapping nuwsgi's worker must use), and checks that request-log.ts renders the
// same line. Only what legitimately differs is normalised:
// - the default line's ctime (checked to be a second inside the request's window) and msecs
//   (taken from uWSGI: the two servers do not take the same time);
// - "N switches": uWSGI's python plugin counts its response-iterator steps (1 or 2), nuwsgi
//   always prints 1;
// - for --log-format, start and duration come from uWSGI's own %(tmicros) %(micros), after which
//   every other variable (ctime, ltime, secs, ...) must match byte for byte; %(epoch) is uWSGI's
//   clock at write time and has been seen a second either side of start + duration.
//
// Without uwsgi-core or uwsgi-plugin-python3 these tests FAIL, naming the package (.ci/run installs both).

// Local time in both processes (uWSGI inherits it): a half-hour offset shows %z and ctime are local.
process.env.TZ = 'America/St_Johns';

import test, { type ExecutionContext } from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { RequestRecord } from '../src/observability/record.js';
import {
  compileLogFormat,
  ctime24,
  formatDefaultLine,
  LOG_FORMAT_VARIABLES,
  type DefaultLineOptions,
} from '../src/observability/request-log.js';
import { encodeVars } from './helpers/uwsgi-packet.js';
import { parseHead } from './helpers/http-head.js';

// ---------------------------------------------------------------- prerequisites

const PLUGIN = '/usr/lib/uwsgi/plugins/python3_plugin.so';

function findBinary(names: string[]): string | undefined {
  const dirs = ['/usr/bin', ...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean)];
  for (const name of names) {
    for (const d of dirs) {
      const candidate = path.join(d, name);
      try {
        accessSync(candidate, constants.X_OK);
        return candidate;
      } catch {
        // next
      }
    }
  }
  return undefined;
}

const UWSGI = findBinary(['uwsgi-core', 'uwsgi']);
const MISSING = !UWSGI
  ? 'uWSGI not installed: apt-get install uwsgi-core uwsgi-plugin-python3'
  : !existsSync(PLUGIN)
    ? `uWSGI python3 plugin missing (${PLUGIN}): apt-get install uwsgi-plugin-python3`
    : undefined;

/** Registers a test that needs uWSGI: it fails, naming the package, when uWSGI is missing (never skips). */
function uwsgiTest(title: string, fn: (t: ExecutionContext) => Promise<void>): void {
  test(title, async (t) => {
    if (MISSING) {
      t.fail(MISSING);
      return;
    }
    await fn(t);
  });
}

// ---------------------------------------------------------------- uWSGI instances

const APP = `
def application(env, start_response):
    body = env['wsgi.input'].read()
    status = '404 Not Found' if env.get('PATH_INFO', '').startswith('/missing') else '200 OK'
    out = b'hello ' + body + b'\\n'
    headers = [('Content-Type', 'text/plain'), ('Content-Length', str(len(out)))]
    if 'extra' in env.get('QUERY_STRING', ''):
        headers.append(('X-Extra', 'yes'))
    start_response(status, headers)
    return [out]
`;

let tmpDir: string | undefined;
const children: ChildProcess[] = [];
let instanceSeq = 0;

// One promise, not a value set after an await: tests start concurrently, and a second caller
// must not get the directory before app.py is written (uWSGI would then serve app -1 with 500s).
let appDirReady: Promise<string> | undefined;
function appDir(): Promise<string> {
  appDirReady ??= (async () => {
    tmpDir = await mkdtemp(path.join(os.tmpdir(), 'rl-uwsgi-'));
    await writeFile(path.join(tmpDir, 'app.py'), APP);
    return tmpDir;
  })();
  return appDirReady;
}

test.after.always(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  if (tmpDir) await rm(tmpDir, { recursive: true, force: true });
});

interface Uwsgi {
  pid: number;
  socket: string;
  /** Resolves with the next stderr line, after `skip` earlier ones, that satisfies pred. */
  line(pred: (l: string) => boolean, skip?: number): Promise<string>;
}

/** One single-process uWSGI (no master: the worker is the spawned pid, wid 1). */
async function startUwsgi(extra: string[]): Promise<Uwsgi> {
  const dir = await appDir();
  const socket = path.join(dir, `u${++instanceSeq}.sock`);
  const child = spawn(
    UWSGI!,
    ['--plugin', 'python3', '--socket', socket, '--wsgi-file', path.join(dir, 'app.py'), ...extra],
    { cwd: dir, env: { ...process.env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.push(child);
  let buf = '';
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  const onData = (d: Buffer): void => {
    buf += d.toString('latin1');
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      lines.push(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
    }
    for (const w of waiters) w();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  child.on('exit', () => {
    for (const w of waiters) w();
  });

  const line = (pred: (l: string) => boolean, skip = 0): Promise<string> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const found = lines.filter(pred)[skip];
        if (found !== undefined) done(() => resolve(found));
        else if (child.exitCode !== null || child.signalCode !== null) {
          done(() => reject(new Error(`uWSGI exited:\n${lines.join('\n')}`)));
        }
      };
      const timer = setTimeout(() => done(() => reject(new Error(`no matching uWSGI line in:\n${lines.join('\n')}`))), 10_000);
      const done = (f: () => void): void => {
        clearTimeout(timer);
        waiters.delete(check);
        f();
      };
      waiters.add(check);
      check();
    });

  // The app must have loaded: without it uWSGI still spawns and answers every request 500.
  const loaded = await line((l) => l.includes('WSGI app 0 (mountpoint=') || l.includes('no app loaded'));
  if (!loaded.includes('WSGI app 0')) throw new Error(`uWSGI did not load app.py:\n${lines.join('\n')}`);
  await line((l) => l.includes('spawned uWSGI worker'));
  return { pid: child.pid!, socket, line };
}

// ---------------------------------------------------------------- requests

type Pairs = [string, string][];

interface Exchange {
  pairs: Pairs;
  /** The uwsgi packet's datasize (the var block). */
  datasize: number;
  response: Buffer;
  /** Date.now() just before sending and just after the response ended. */
  before: number;
  after: number;
}


function send(socket: string, pairs: Pairs, body = ''): Promise<Exchange> {
  const block = encodeVars(pairs);
  const header = Buffer.from([0, 0, 0, 0]);
  header.writeUInt16LE(block.length, 1);
  return new Promise((resolve, reject) => {
    const before = Date.now();
    const chunks: Buffer[] = [];
    const s = net.connect(socket);
    s.on('error', reject);
    s.on('data', (d) => chunks.push(d));
    s.on('end', () => {
      resolve({ pairs, datasize: block.length, response: Buffer.concat(chunks), before, after: Date.now() });
    });
    s.end(Buffer.concat([header, block, Buffer.from(body, 'latin1')]));
  });
}

// What nginx's uwsgi_params would send, varied across the fields the log shows.
const GET: Pairs = [
  ['QUERY_STRING', 'x=1&extra'],
  ['REQUEST_METHOD', 'GET'],
  ['CONTENT_TYPE', ''],
  ['CONTENT_LENGTH', ''],
  ['REQUEST_URI', '/hello?x=1&extra'],
  ['PATH_INFO', '/hello'],
  ['DOCUMENT_ROOT', '/srv'],
  ['SERVER_PROTOCOL', 'HTTP/1.1'],
  ['REQUEST_SCHEME', 'http'],
  ['REMOTE_ADDR', '10.0.0.7'],
  ['REMOTE_PORT', '53412'],
  ['SERVER_PORT', '80'],
  ['SERVER_NAME', 'example.org'],
  ['HTTP_HOST', 'example.org:8080'],
  ['HTTP_USER_AGENT', 'test/1.0 (rl)'],
  ['HTTP_X_REQUEST_ID', 'req-42'],
];

const POST: Pairs = [
  ['QUERY_STRING', ''],
  ['REQUEST_METHOD', 'POST'],
  ['CONTENT_TYPE', 'text/plain'],
  ['CONTENT_LENGTH', '5'],
  ['REQUEST_URI', '/missing/thing'],
  ['PATH_INFO', '/missing/thing'],
  ['SERVER_PROTOCOL', 'HTTP/1.0'],
  ['REMOTE_ADDR', '::1'],
  ['REMOTE_USER', 'alice'],
  ['SERVER_PORT', '443'],
  ['SERVER_NAME', 'fallback.example'],
  ['HTTP_REFERER', 'https://ref.example/page?q="x"'],
];
const POST_BODY = 'abcde';

// No method, URI, protocol or address at all.
const BARE: Pairs = [
  ['SERVER_NAME', 'bare'],
  ['SERVER_PORT', '80'],
];

/**
 * The RequestRecord describing an exchange, filled the way uWSGI fills its request:
 * vars = keys + values (2 per pair), pktsize = datasize, host = HTTP_HOST else SERVER_NAME,
 * hsize = status line + header lines + empty line.
 */
function recordFor(ex: Exchange, pid: number, count: number, timing: { startMs: number; durationUs: number }): RequestRecord {
  const get = (k: string): string | undefined => ex.pairs.find(([key]) => key === k)?.[1];
  const res = parseHead(ex.response);
  return {
    startMs: timing.startMs,
    durationUs: timing.durationUs,
    method: get('REQUEST_METHOD') ?? '',
    uri: get('REQUEST_URI') ?? '',
    proto: get('SERVER_PROTOCOL') ?? '',
    status: res.status,
    addr: get('REMOTE_ADDR') ?? '',
    user: get('REMOTE_USER') ?? '',
    host: get('HTTP_HOST') ?? get('SERVER_NAME') ?? '',
    uagent: get('HTTP_USER_AGENT') ?? '',
    referer: get('HTTP_REFERER') ?? '',
    cl: Number(get('CONTENT_LENGTH') || 0),
    vars: ex.pairs.length * 2,
    pktsize: ex.datasize,
    modifier1: 0,
    modifier2: 0,
    rsize: res.rsize,
    hsize: res.hsize,
    headers: res.headers,
    pid,
    wid: 1,
    requestCount: count,
    globalCount: count,
    ioError: false,
    var: get,
    // uWSGI only samples memory with --memory-report.
    rss: 0,
    vsz: 0,
  };
}

// ---------------------------------------------------------------- the default line

const DEFAULT_RE =
  /^(?<prefix>.*?)\[pid: (?<pid>\d+)\|app: (?<app>-?\d+)\|req: (?<req>-?\d+)\/(?<global>\d+)\] (?<addr>.*) \((?<user>.*)\) \{(?<vars>\d+) vars in (?<pktsize>\d+) bytes\} \[(?<ctime>.{24})\] (?<method>\S*) (?<uri>\S*) => generated (?<rsize>\d+) bytes in (?<time>\d+) (?<unit>msecs|micros)(?<via>.*?)\((?<proto>\S*) (?<status>\d+)\) (?<headers>\d+) headers in (?<hsize>\d+) bytes \((?<switches>\d+) switches on core (?<core>\d+)\)$/;

function fields(t: ExecutionContext, line: string): Record<string, string> {
  const m = DEFAULT_RE.exec(line);
  if (!m?.groups) {
    t.fail(`not a uWSGI default line: ${JSON.stringify(line)}`);
    return {};
  }
  return { ...m.groups };
}

/** Seconds the request may have started in, as ctime strings. */
function ctimeWindow(ex: Exchange): string[] {
  const out: string[] = [];
  for (let s = Math.floor(ex.before / 1000); s <= Math.floor(ex.after / 1000); s++) out.push(ctime24(s));
  return out;
}

async function compareDefault(
  t: ExecutionContext,
  u: Uwsgi,
  ex: Exchange,
  count: number,
  opts: DefaultLineOptions = {},
): Promise<void> {
  const theirs = fields(t, await u.line((l) => l.includes('[pid: '), count - 1));
  // Normalised: the duration is uWSGI's, memory numbers are uWSGI's (sampled by it).
  const durationUs = Number(theirs.time) * (opts.logMicros ? 1 : 1000);
  const r = recordFor(ex, u.pid, count, { startMs: ex.before, durationUs });
  const mem = /^\{address space usage: (\d+) bytes\/\d+MB\} \{rss usage: (\d+) bytes\/\d+MB\} $/.exec(theirs.prefix);
  if (opts.memoryReport && mem) {
    r.vsz = Number(mem[1]);
    r.rss = Number(mem[2]);
  }
  const mine = fields(t, formatDefaultLine(r, opts));

  t.true(ctimeWindow(ex).includes(theirs.ctime), `uWSGI ctime ${theirs.ctime} outside the request window`);
  t.true(ctimeWindow(ex).includes(mine.ctime), `our ctime ${mine.ctime} outside the request window`);
  t.regex(theirs.switches, /^[1-9]\d*$/);
  t.is(mine.switches, '1');
  for (const f of [theirs, mine]) {
    f.ctime = '<ctime>';
    f.switches = '<switches>';
  }
  t.deepEqual(mine, theirs);
}

uwsgiTest('default line: same as uWSGI, field by field, over three requests', async (t) => {
  const u = await startUwsgi([]);
  const requests: [Pairs, string?][] = [[GET], [POST, POST_BODY], [BARE]];
  for (let i = 0; i < requests.length; i++) {
    const [pairs, body] = requests[i];
    const ex = await send(u.socket, pairs, body);
    await compareDefault(t, u, ex, i + 1);
  }
});

uwsgiTest('default line: --memory-report and --log-micros as uWSGI prints them', async (t) => {
  const u = await startUwsgi(['--memory-report', '--log-micros']);
  const ex = await send(u.socket, GET);
  await compareDefault(t, u, ex, 1, { memoryReport: true, logMicros: true });
});

// ---------------------------------------------------------------- --log-format

const MARK = 'RL|';
const ANCHORS = '%(tmicros) %(micros) %(epoch) %(switches)|';
const ANCHOR_RE = /^RL\|(\d+) (\d+) (\d+) (\d+)\|/;

/**
 * Renders `format` for the exchange with start and duration taken from uWSGI's anchors, and
 * compares: everything after the anchors byte for byte; epoch within a couple of seconds; switches as above.
 */
async function compareFormat(t: ExecutionContext, u: Uwsgi, ex: Exchange, count: number, format: string): Promise<void> {
  const theirs = await u.line((l) => l.startsWith(MARK), count - 1);
  const m = ANCHOR_RE.exec(theirs);
  if (!m) {
    t.fail(`no anchors in ${JSON.stringify(theirs)}`);
    return;
  }
  const [anchors, tmicros, micros, epoch, switches] = m;
  const r = recordFor(ex, u.pid, count, { startMs: Number(tmicros) / 1000, durationUs: Number(micros) });
  const mine = compileLogFormat(MARK + ANCHORS + format)(r);
  const mm = ANCHOR_RE.exec(mine);
  t.truthy(mm);
  t.is(mm![1], tmicros);
  t.is(mm![2], micros);
  // Ours is the request's end (from uWSGI's own tmicros + micros); uWSGI's is its clock when it
  // writes the line, which CI has seen a second behind the request's end as well as ahead of it
  // (a second boundary between the two readings, or a clock uWSGI refreshes once a second).
  const apart = Number(epoch) - Number(mm![3]);
  t.true(Math.abs(apart) <= 2, `uWSGI's epoch ${epoch}, ours ${mm![3]}`);
  t.regex(switches, /^[1-9]\d*$/);
  t.is(mm![4], '1');
  t.is(mine.slice(mm![0].length), theirs.slice(anchors.length));
}

const COMBINED = '%(addr) - %(user) [%(ltime)] "%(method) %(uri) %(proto)" %(status) %(size) "%(referer)" "%(uagent)"';

uwsgiTest('log-format: Apache combined, same as uWSGI', async (t) => {
  const u = await startUwsgi(['--log-format', MARK + ANCHORS + COMBINED]);
  const runs: [Pairs, string?][] = [[GET], [POST, POST_BODY], [BARE]];
  for (let i = 0; i < runs.length; i++) {
    const ex = await send(u.socket, runs[i][0], runs[i][1]);
    await compareFormat(t, u, ex, i + 1, COMBINED);
  }
});

// Every registered variable (epoch and switches are among the anchors), then var., metric. and
// an unknown name.
const ALL =
  LOG_FORMAT_VARIABLES.filter((v) => v !== 'epoch' && v !== 'switches')
    .map((v) => `${v}=%(${v})`)
    .join(' ') + ' x=%(var.HTTP_X_REQUEST_ID) nope=%(var.NOPE) ct=%(var.CONTENT_TYPE) m=%(metric.foo) u=%(unknown)';

uwsgiTest('log-format: every variable, same as uWSGI', async (t) => {
  const u = await startUwsgi(['--log-format', MARK + ANCHORS + ALL]);
  const runs: [Pairs, string?][] = [[GET], [POST, POST_BODY], [BARE]];
  for (let i = 0; i < runs.length; i++) {
    const ex = await send(u.socket, runs[i][0], runs[i][1]);
    await compareFormat(t, u, ex, i + 1, ALL);
  }
});

uwsgiTest('log-format: %(ftime) with --logformat-strftime and a --log-date pattern', async (t) => {
  // uWSGI then also prefixes its other log lines with the date; the request line is not prefixed.
  const format = 'f=%(ftime) l=%(ltime)';
  const u = await startUwsgi(['--log-format', MARK + ANCHORS + format, '--logformat-strftime', '--log-date=%Y-%m-%dT%H:%M:%S%z %j']);
  const ex = await send(u.socket, GET);
  const theirs = await u.line((l) => l.startsWith(MARK));
  const m = ANCHOR_RE.exec(theirs)!;
  const r = recordFor(ex, u.pid, 1, { startMs: Number(m[1]) / 1000, durationUs: Number(m[2]) });
  const mine = compileLogFormat(format, { strftime: '%Y-%m-%dT%H:%M:%S%z %j' })(r);
  t.is(mine, theirs.slice(m[0].length));
});

// uwsgi_build_log_format's quirks, each in its own uWSGI (a quirk can swallow what follows it).
const QUIRKS = [
  'plain text',
  '%%(uri)',
  '100%',
  '%(uri',
  '%()x',
  '%(%uri)',
  '%((uri)',
  '%(a%(uri)',
  '%(uri %()x',
  '%)(uri)',
  '% (uri)',
  '%(uri))',
  '%(var.)',
  // Not '%( uri)': uWSGI's config layer expands "%(a b)" as placeholder math before the
  // log-format parser sees it (renders ''); at the log-format level it is an unknown name, "-".
  '%(URI)',
  '[%(status)] %(method)%(uri)',
];

uwsgiTest('log-format: parsing quirks, same as uWSGI', async (t) => {
  await Promise.all(
    QUIRKS.map(async (q) => {
      const u = await startUwsgi(['--log-format', MARK + ANCHORS + q]);
      const ex = await send(u.socket, GET);
      await compareFormat(t, u, ex, 1, q);
    }),
  );
});
