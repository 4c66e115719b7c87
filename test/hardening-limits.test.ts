// Limits on what a request may declare or send: --limit-post (413 before any body byte is read,
// the body drained so nginx sees no reset), CONTENT_LENGTH that lies (larger than what is sent,
// negative, not a number, absurdly large), a body longer than declared. The CLI server (the
// real master and workers) answers raw packets on its uwsgi socket; --limit-post is also run on
// the bare bridge (test/apps/hard-bridge.mjs) behind nginx. After every case the worker that
// served it is the same process and the log has no crash in it.

import test, { type ExecutionContext } from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { spawnedWorkers } from './helpers/lifecycle.js';
import { httpRequest, startNginx, type NginxInstance } from './helpers/nginx.js';
import { parseResponse, rawUwsgi, requestVars, rss, startBridge, uwsgiPacket, until } from './helpers/hardening.js';
import { peakKiB, resetPeak, rssKiB } from '../bench/lib/proc.js';
import { startServer, type ServerInstance } from './helpers/server.js';

let server: ServerInstance;
let nginx: NginxInstance;
let workerPids: number[];

test.before(async () => {
  server = await startServer({ app: 'hard-app.mjs', args: ['--processes', '1', '--socket-timeout', '1', '--disable-logging'] });
  nginx = await startNginx({ upstream: server.upstream });
  workerPids = spawnedWorkers(server.output()).map((w) => w.pid);
});

test.after.always(async () => {
  await nginx?.stop();
  await server?.stop('SIGTERM');
});

/** The server is unharmed: same workers, nothing crashed, and it still serves through nginx. */
async function unharmed(t: ExecutionContext): Promise<void> {
  const res = await httpRequest({ method: 'GET', url: `${nginx.baseUrl}/?n=after`, timeoutMs: 15_000 });
  t.is(res.status, 200);
  t.regex(res.body.toString(), /^n=after pid=\d+$/);
  t.deepEqual(spawnedWorkers(server.output()).map((w) => w.pid), workerPids, 'no worker was replaced');
  t.notRegex(server.output(), /DAMN|uncaught exception|unhandled promise rejection|internal error/);
}

const post = (uri: string, contentLength: string, body: Buffer | string = '') => uwsgiPacket(requestVars('POST', uri, [['CONTENT_LENGTH', contentLength]]), body);

// ---- CONTENT_LENGTH that lies ------------------------------------------------------------------

test.serial('CONTENT_LENGTH larger than the body sent, peer idle: closed after socket-timeout, logged, the app sees the abort', async (t) => {
  const mark = server.output().length;
  const { reply } = await rawUwsgi(server.socket, post('/body?n=idle', '100', 'x'.repeat(40)));
  t.is(reply.length, 0, 'no answer: the request never completed');
  await server.waitFor(/POST \/body\?n=idle: request body stalled for socket-timeout \(1s\) with 60 bytes missing/);
  await server.waitFor(/hard-app: aborted n=idle after 40 body bytes/);
  await server.waitFor(/hard-app: req error n=idle ECONNRESET/);
  t.is(server.output().slice(mark).match(/request body stalled/g)?.length, 1);
  await unharmed(t);
});

test.serial('CONTENT_LENGTH larger than the body sent, peer closes: logged once, the app sees the abort', async (t) => {
  const { reply } = await rawUwsgi(server.socket, post('/body?n=short', '100', 'x'.repeat(30)), { end: true });
  t.is(reply.length, 0);
  await server.waitFor(/POST \/body\?n=short: the peer closed the connection with 70 body bytes missing -- request aborted/);
  await server.waitFor(/hard-app: aborted n=short after 30 body bytes/);
  await unharmed(t);
});

test.serial('CONTENT_LENGTH 999999999999999 with a few bytes: no allocation from it, no hang, the worker unchanged in size', async (t) => {
  const before = rss(workerPids[0])!;
  const { reply } = await rawUwsgi(server.socket, post('/body?n=huge', '999999999999999', 'abc'), { end: true });
  t.is(reply.length, 0);
  await server.waitFor(/POST \/body\?n=huge: the peer closed the connection with 999999999999996 body bytes missing/);
  await server.waitFor(/hard-app: aborted n=huge after 3 body bytes/);
  const grown = rss(workerPids[0])! - before;
  t.true(grown < 16 * 1024 * 1024, `worker RSS grew ${grown} bytes`);
  await unharmed(t);
});

for (const [name, value] of [
  ['negative', '-5'],
  ['not a number', 'ten'],
  ['hex', '0x10'],
  ['a number with junk after it (uWSGI reads 12)', '12abc'],
  ['with a sign', '+5'],
  ['16 digits', '1000000000000000'],
  ['spaces only', '   '],
] as const) {
  test.serial(`CONTENT_LENGTH ${name} (${JSON.stringify(value)}): 400 before the app, logged`, async (t) => {
    const mark = server.output().length;
    const { reply } = await rawUwsgi(server.socket, post(`/slow?n=cl`, value, '12345'), { end: true });
    const res = parseResponse(reply);
    t.is(res.status, 400);
    await until(() => /invalid CONTENT_LENGTH/.test(server.output().slice(mark)), 'the log line');
    t.notRegex(server.output().slice(mark), /hard-app: start/, 'the app never saw it');
    await unharmed(t);
  });
}

test.serial('body longer than CONTENT_LENGTH: the app gets exactly CONTENT_LENGTH bytes, the rest is ignored', async (t) => {
  const body = Buffer.concat([Buffer.alloc(10, 0x61), Buffer.alloc(5000, 0x62)]);
  const { reply } = await rawUwsgi(server.socket, post('/body?n=long', '10', body), { end: true });
  const res = parseResponse(reply);
  t.is(res.status, 200);
  const got = JSON.parse(res.body.toString()) as { size: number; sha256: string };
  t.is(got.size, 10);
  t.is(got.sha256, createHash('sha256').update(body.subarray(0, 10)).digest('hex'));
  await unharmed(t);
});

test.serial('a body that trickles slower than socket-timeout in total, but never idle that long, is read whole (per-read timeout)', async (t) => {
  const bridge = await startBridge(t, { socketTimeoutMs: 3000 });
  const pieces = [post('/body?n=trickle', '32', ''), ...Array.from({ length: 16 }, () => Buffer.from('ab'))];
  // 16 pieces 250 ms apart: 4 s in all, more than socket-timeout, never idle for 3 s.
  const { reply } = await rawUwsgi(bridge.socket, pieces, { gapMs: 250 });
  const res = parseResponse(reply);
  t.is(res.status, 200);
  t.is((JSON.parse(res.body.toString()) as { size: number }).size, 32);
  t.notRegex(bridge.output(), /stalled/);
});

// ---- large bodies ---------------------------------------------------------------------------------

test.serial('a 64 MiB upload read by the app grows the worker by less than 32 MiB at its peak (dropped chunks are collected as the body streams)', async (t) => {
  const pid = workerPids[0];
  const beforeKiB = rssKiB(pid);
  t.true(resetPeak(pid), 'the worker peak RSS (VmHWM) can be reset');
  const res = await postThrough(nginx.baseUrl, '/body?n=upload64', 64 * 1024 * 1024);
  t.is(res.status, 200);
  t.is((JSON.parse(res.body) as { sha256: string }).sha256, res.sha, 'the app read the whole body');
  const grownKiB = peakKiB(pid) - beforeKiB;
  // V8 alone collects young ArrayBuffers only every ~32 MiB of them: 34-38 MiB here without BodyGarbage.
  t.true(grownKiB < 32 * 1024, `the worker's peak RSS grew ${(grownKiB / 1024).toFixed(1)} MiB for a 64 MiB body`);
  await unharmed(t);
});

// ---- --limit-post -------------------------------------------------------------------------------

const LIMIT = 1024 * 1024;

/** POST `size` random bytes through nginx to `path`; the response and the sha of what was sent. */
function postThrough(base: string, path: string, size: number): Promise<{ status: number; body: string; sha: string }> {
  const body = randomBytes(size);
  return httpRequest({ method: 'POST', url: `${base}${path}`, body, headers: { 'Content-Type': 'application/octet-stream' }, timeoutMs: 30_000 }).then((r) => ({
    status: r.status,
    body: r.body.toString(),
    sha: createHash('sha256').update(body).digest('hex'),
  }));
}

test.serial('--limit-post (bridge behind nginx): a 64 MiB POST gets 413 without the app, its body drained not stored, no reset at nginx', async (t) => {
  const bridge = await startBridge(t, { limitPost: LIMIT, socketTimeoutMs: 2000, lingerMs: 2000 });
  const front = await startNginx({ upstream: bridge.upstream });
  t.teardown(() => front.stop());
  const before = rss(bridge.pid)!;
  const big = await postThrough(front.baseUrl, '/slow?n=big', 64 * 1024 * 1024);
  t.is(big.status, 413);
  await bridge.waitFor(/CONTENT_LENGTH 67108864 exceeds limit-post 1048576 \(see --limit-post\) -- closing connection/);
  t.notRegex(bridge.output(), /hard-app: start n=big/, 'the app never saw the request');
  const grown = rss(bridge.pid)! - before;
  t.true(grown < 24 * 1024 * 1024, `the bridge grew ${grown} bytes for a 64 MiB body`);
  // At the limit: served, the body intact.
  const ok = await postThrough(front.baseUrl, '/body?n=limit', LIMIT);
  t.is(ok.status, 200);
  t.is((JSON.parse(ok.body) as { sha256: string }).sha256, ok.sha);
  t.is((await postThrough(front.baseUrl, '/body?n=over', LIMIT + 1)).status, 413);
  t.notRegex(front.errorLog(), /reset by peer|prematurely closed|broken pipe/i);
  t.notRegex(bridge.output(), /uncaught/);
});

test.serial('--limit-post (bridge, raw): 413 at once on the declared length, before any body byte is sent', async (t) => {
  const bridge = await startBridge(t, { limitPost: 1000, socketTimeoutMs: 2000, lingerMs: 500 });
  const { reply } = await rawUwsgi(bridge.socket, post('/slow?n=raw', '1001'));
  t.regex(reply.toString('latin1'), /^HTTP\/1\.1 413 Payload Too Large\r\n/);
  t.notRegex(bridge.output(), /hard-app: start/);
});

test.serial('--limit-post (bridge): a peer that keeps trickling a refused body (ignoring the FIN) is cut at the discard cap', async (t) => {
  const bridge = await startBridge(t, { limitPost: 10, socketTimeoutMs: 2000, lingerMs: 300, discardCapMs: 1500 });
  // A byte every 100 ms, never idle for the 300 ms linger, for up to 40 s: only the cap ends it.
  const pieces = [post('/slow?n=trickle', '100000000'), ...Array.from({ length: 400 }, () => Buffer.from('x'))];
  const { reply } = await rawUwsgi(bridge.socket, pieces, { gapMs: 100, timeoutMs: 20_000, allowHalfOpen: true });
  t.regex(reply.toString('latin1'), /^HTTP\/1\.1 413 /);
});

test('--limit-post through the CLI reaches the workers', async (t) => {
  const cli = await startServer({ app: 'hard-app.mjs', args: ['--limit-post', '1000'] });
  t.teardown(() => cli.stop());
  const { reply } = await rawUwsgi(cli.socket, post('/slow?n=cli', '1001'), { end: true });
  t.regex(reply.toString('latin1'), /^HTTP\/1\.1 413 /);
});

// ---- log lines from hostile vars -----------------------------------------------------------------

const FORGING_URI = '/body?n=forge\nFORGED ! worker 1 (pid: 1) died\r\nFORGED too';
const forged = (text: string) => text.split('\n').some((line) => line.startsWith('FORGED'));

test.serial('CR/LF in REQUEST_URI from a raw client cannot forge a line in nuwsgi\'s own log lines (escaped as \\x0a)', async (t) => {
  const mark = server.output().length;
  await rawUwsgi(server.socket, post(FORGING_URI, '10', 'abc'), { end: true });
  await server.waitFor(/n=forge\\x0aFORGED ! worker 1 \(pid: 1\) died\\x0d\\x0aFORGED too: the peer closed the connection with 7 body bytes missing/);
  t.false(forged(server.output().slice(mark)));
  await unharmed(t);
});

test('CR/LF in REQUEST_URI cannot forge a line in the request log either', async (t) => {
  const logged = await startServer({ app: 'hard-app.mjs', args: ['--processes', '1'] });
  t.teardown(() => logged.stop());
  await rawUwsgi(logged.socket, uwsgiPacket(requestVars('GET', FORGING_URI)));
  await logged.waitFor(/generated \d+ bytes/);
  t.false(forged(logged.output()), logged.output().split('\n').filter((l) => l.startsWith('FORGED')).join('\n'));
});

test.serial('nginx saw no reset or premature close from the CLI server during all of the above', (t) => {
  t.notRegex(nginx.errorLog(), /reset by peer|prematurely closed|upstream timed out/);
});
