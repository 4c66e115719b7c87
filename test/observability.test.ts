import test from 'ava';
import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import net from 'node:net';
import { addCounters, countRequest, LATENCY_BUCKETS, newCounters } from '../src/observability/counters.js';
import { listenQueue, listenQueueOfInode } from '../src/observability/listen-queue.js';
import { renderMetrics } from '../src/observability/metrics.js';
import type { RequestRecord } from '../src/observability/record.js';
import { statsDocument, type WorkerSnapshot } from '../src/observability/stats.js';

const record = (over: Partial<RequestRecord> = {}): RequestRecord => ({
  startMs: 0,
  durationUs: 1500,
  method: 'GET',
  uri: '/',
  proto: 'HTTP/1.1',
  status: 200,
  addr: '127.0.0.1',
  user: '',
  host: 'x',
  uagent: '',
  referer: '',
  cl: 0,
  vars: 15,
  pktsize: 400,
  modifier1: 0,
  modifier2: 0,
  rsize: 100,
  hsize: 50,
  headers: 2,
  pid: 1,
  wid: 1,
  requestCount: 1,
  globalCount: 1,
  ioError: false,
  var: () => undefined,
  rss: 0,
  vsz: 0,
  ...over,
});

test('counters: classes, bytes, running time, uWSGI avg_rt and the latency histogram', (t) => {
  const c = newCounters();
  countRequest(c, record({ status: 200, durationUs: 1000 }));
  countRequest(c, record({ status: 404, durationUs: 3000 }));
  countRequest(c, record({ status: 502, durationUs: 20_000_000, ioError: true }));
  t.is(c.requests, 3);
  t.deepEqual(c.byClass, [0, 1, 0, 1, 1]);
  t.is(c.tx, 450);
  t.is(c.runningTimeUs, 20_004_000);
  t.is(c.avgRtUs, Math.round((Math.round((1000 + 3000) / 2) + 20_000_000) / 2));
  t.is(c.latency[0], 2); // both under 5 ms
  t.is(c.latency[LATENCY_BUCKETS.length], 1); // 20 s: +Inf
  t.is(c.ioErrors, 1);
  const sum = newCounters();
  addCounters(sum, c);
  addCounters(sum, c);
  t.is(sum.requests, 6);
  t.deepEqual(sum.byClass, [0, 2, 0, 2, 2]);
});

test('stats document: uWSGI keys and types that uwsgitop reads', (t) => {
  const current = newCounters();
  countRequest(current, record());
  const worker: WorkerSnapshot = {
    id: 1,
    pid: 42,
    accepting: true,
    status: 'idle',
    current,
    previousRequests: 10,
    inflight: 0,
    rss: 1024,
    vsz: 2048,
    lastSpawn: 1_700_000_000,
    respawnCount: 2,
    appKind: 'node listener',
    loadMs: 12,
  };
  const doc = statsDocument({
    version: '0.1.0',
    pid: 7,
    uid: 0,
    gid: 0,
    cwd: '/srv',
    listenQueue: 0,
    listenQueueErrors: 0,
    logDropped: 0,
    sockets: [{ name: '/run/app.sock', proto: 'uwsgi', queue: 0, maxQueue: 100 }],
    workers: [worker],
  }) as { workers: Record<string, unknown>[] } & Record<string, unknown>;
  for (const key of ['version', 'listen_queue', 'listen_queue_errors', 'signal_queue', 'load', 'pid', 'uid', 'gid', 'cwd', 'locks', 'sockets', 'workers']) t.true(key in doc, key);
  const w = doc.workers[0];
  // Everything uwsgitop formats with %d must be a number.
  for (const key of ['id', 'pid', 'requests', 'delta_requests', 'exceptions', 'harakiri_count', 'signals', 'rss', 'vsz', 'running_time', 'last_spawn', 'respawn_count', 'tx', 'avg_rt', 'accepting']) {
    t.is(typeof w[key], 'number', key);
  }
  t.is(w.requests, 11);
  t.is(w.delta_requests, 1);
  t.is(w.status, 'idle');
  t.deepEqual(Object.keys((w.cores as Record<string, unknown>[])[0]).sort(), ['id', 'in_request', 'offloaded_requests', 'read_errors', 'req_info', 'requests', 'routed_requests', 'static_requests', 'vars', 'write_errors']);
});

test('metrics: valid Prometheus text exposition with cumulative buckets', (t) => {
  const totals = newCounters();
  countRequest(totals, record({ status: 200, durationUs: 1000 }));
  countRequest(totals, record({ status: 500, durationUs: 300_000 }));
  const text = renderMetrics({
    totals,
    inflight: 1,
    workers: [{ id: 1, pid: 9, rss: 123, requests: 2, status: 'idle' }],
    respawns: 3,
    reloads: 1,
    harakiris: 0,
    listenQueue: [{ socket: 'a "quoted"\\path', queue: 0 }],
    startTime: 1,
    logDropped: 3,
  });
  t.true(text.endsWith('\n'));
  // Every sample line: name{labels} value; every family has HELP and TYPE before its samples.
  const seen = new Set<string>();
  for (const line of text.trimEnd().split('\n')) {
    if (line.startsWith('# TYPE ')) seen.add(line.split(' ')[2]);
    if (line.startsWith('#')) continue;
    const m = /^([a-z_]+)(\{[^}]*\})? (-?[0-9.e+]+|\+Inf)$/.exec(line);
    t.truthy(m, line);
    const base = m![1].replace(/_(bucket|sum|count)$/, '');
    t.true(seen.has(m![1]) || seen.has(base), `family declared before ${line}`);
  }
  t.regex(text, /nuwsgi_log_lines_dropped_total 3\n/);
  t.regex(text, /nuwsgi_requests_total\{code="2xx"\} 1\n/);
  t.regex(text, /nuwsgi_requests_total\{code="5xx"\} 1\n/);
  t.regex(text, /nuwsgi_request_duration_seconds_bucket\{le="0.005"\} 1\n/);
  t.regex(text, /nuwsgi_request_duration_seconds_bucket\{le="0.5"\} 2\n/);
  t.regex(text, /nuwsgi_request_duration_seconds_bucket\{le="\+Inf"\} 2\n/);
  t.regex(text, /nuwsgi_request_duration_seconds_count 2\n/);
  t.regex(text, /nuwsgi_listen_queue\{socket="a \\"quoted\\"\\\\path"\} 0/);
});

test('listen queue: a TCP listener nobody accepts on shows its waiting connections', async (t) => {
  // A listener in another process that never accepts: connections stay in the kernel's queue.
  const child = spawn('python3', ['-c', 'import socket,sys,time\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(16)\nprint(s.getsockname()[1], s.fileno(), flush=True)\ntime.sleep(30)'], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => void child.kill('SIGKILL'));
  // Read up to the end of the line: under load the pipe may deliver it in pieces.
  const line = await new Promise<string>((resolve) => {
    let text = '';
    child.stdout!.on('data', (d: Buffer) => {
      text += d.toString();
      if (text.includes('\n')) resolve(text);
    });
  });
  const [port, fd] = line.trim().split(' ').map(Number);
  const inode = statSync(`/proc/${child.pid}/fd/${fd}`).ino;
  t.is(listenQueueOfInode(inode), 0);
  const clients = await Promise.all(
    [1, 2, 3].map(() => new Promise<net.Socket>((resolve) => { const c = net.connect(port, '127.0.0.1', () => resolve(c)); })),
  );
  t.is(listenQueueOfInode(inode), 3);
  for (const c of clients) c.destroy();
  // A unix socket has no such row: 0, as uWSGI reports on a stock kernel.
  t.is(listenQueue(0), 0);
});
