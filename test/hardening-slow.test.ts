// Slow and idle clients. --socket-timeout bounds the whole header block (from the accept, however
// the bytes trickle: a slowloris peer is cut) and each read of the body (a front end may stream
// it). 1000 idle or trickling connections do not stop other requests being served, and cost
// nothing once gone (fds back to where they were). --max-connections bounds what one worker holds:
// above it new connections get 503 at once, with one log line when reached and one when back
// under.

import test from 'ava';
import type net from 'node:net';
import { spawnedWorkers } from './helpers/lifecycle.js';
import { httpRequest, startNginx, type NginxInstance } from './helpers/nginx.js';
import { fdCount, openConnections, parseResponse, rawUwsgi, requestVars, sleep, startBridge, until, uwsgiPacket } from './helpers/hardening.js';
import { startServer, type ServerInstance } from './helpers/server.js';

let server: ServerInstance;
let nginx: NginxInstance;

test.before(async () => {
  server = await startServer({ app: 'hard-app.mjs', args: ['--processes', '2', '--socket-timeout', '3', '--disable-logging'] });
  nginx = await startNginx({ upstream: server.upstream });
});

test.after.always(async () => {
  await nginx?.stop();
  await server?.stop('SIGTERM');
});

const get = (path: string) => httpRequest({ method: 'GET', url: `${nginx.baseUrl}${path}`, timeoutMs: 15_000 });

test.serial('a header block trickled a byte at a time, never idle for socket-timeout, is cut at socket-timeout in all (slowloris)', async (t) => {
  const mark = server.output().length;
  const packet = uwsgiPacket(requestVars('GET', '/?n=loris'));
  // One byte every 100 ms: the whole packet would take about 10 s; the bound is 3 s from the accept.
  const pieces = Array.from(packet.subarray(0, 100), (b) => Buffer.from([b]));
  const { reply } = await rawUwsgi(server.socket, pieces, { gapMs: 100, timeoutMs: 15_000 });
  t.is(reply.length, 0);
  await server.waitFor(/uwsgi header block not received within socket-timeout \(3s\) \(\d+ bytes received\) -- closing connection/);
  const line = server.output().slice(mark).split('\n').find((l) => l.includes('header block not received'))!;
  const received = Number(/\((\d+) bytes received\)/.exec(line)![1]);
  t.true(received > 0 && received < 100, `cut after ${received} of the 100 bytes trickled`);
});

test.serial('a header block split into a few reads within socket-timeout is served', async (t) => {
  const packet = uwsgiPacket(requestVars('GET', '/?n=split'));
  const { reply } = await rawUwsgi(server.socket, [packet.subarray(0, 1), packet.subarray(1, 30), packet.subarray(30)], { gapMs: 300 });
  const res = parseResponse(reply);
  t.is(res.status, 200);
  t.regex(res.body.toString(), /^n=split pid=\d+$/);
});

test.serial('1000 idle or trickling connections: requests through nginx are all served meanwhile; the idle ones are closed, no fd is left behind', async (t) => {
  const workers = spawnedWorkers(server.output()).map((w) => w.pid);
  const fdsBefore = workers.map((pid) => fdCount(pid)!);
  const mark = server.output().length;
  const IDLE = 400;
  const HEADER_TRICKLE = 300;
  const BODY_TRICKLE = 300;
  const idle = await openConnections(server.socket, IDLE);
  const headerTricklers = await openConnections(server.socket, HEADER_TRICKLE);
  const bodyTricklers = await openConnections(server.socket, BODY_TRICKLE);
  const closed = new Set<net.Socket>();
  for (const s of [...idle, ...headerTricklers, ...bodyTricklers]) s.on('close', () => closed.add(s));
  // Body tricklers: a full header declaring 10 KB, then a byte every 500 ms (never idle 3 s).
  const header = uwsgiPacket(requestVars('POST', '/body?n=trickle', [['CONTENT_LENGTH', '10000']]));
  bodyTricklers.forEach((s) => s.write(header));
  const packet = uwsgiPacket(requestVars('GET', '/?n=loris'));
  let sent = 0;
  const trickle = setInterval(() => {
    sent++;
    for (const s of headerTricklers) if (!s.destroyed && sent < packet.length) s.write(packet.subarray(sent - 1, sent));
    for (const s of bodyTricklers) if (!s.destroyed) s.write('x');
  }, 500);
  t.teardown(() => clearInterval(trickle));

  const responses = await Promise.all(Array.from({ length: 60 }, (_, n) => get(`/?n=${n}`)));
  const openWhenServed = BODY_TRICKLE - bodyTricklers.filter((s) => closed.has(s)).length;
  responses.forEach((res, n) => {
    t.is(res.status, 200);
    t.regex(res.body.toString(), new RegExp(`^n=${n} pid=\\d+$`));
  });
  t.is(openWhenServed, BODY_TRICKLE, 'every body trickler was still being served when the requests were answered');

  // Idle and header-trickling connections go at socket-timeout (3 s from the accept).
  await until(() => [...idle, ...headerTricklers].every((s) => closed.has(s)), 'idle and header-trickling connections closed by the server', 15_000);
  t.false(bodyTricklers.some((s) => closed.has(s)), 'a body that keeps coming within socket-timeout per read is not cut');
  // One line each. The workers' lines reach the master's log a moment after the sockets close.
  const headerLines = () => (server.output().slice(mark).match(/uwsgi header block not received within socket-timeout \(3s\)/g) ?? []).length;
  await until(() => headerLines() >= IDLE + HEADER_TRICKLE, `one "header block not received" line per idle or header-trickling connection`);
  t.is(headerLines(), IDLE + HEADER_TRICKLE);

  // The body tricklers stall: each is closed after socket-timeout with its own line.
  clearInterval(trickle);
  await until(() => bodyTricklers.every((s) => closed.has(s)), 'stalled bodies closed', 15_000);
  await until(() => (server.output().slice(mark).match(/request body stalled for socket-timeout/g) ?? []).length === BODY_TRICKLE, 'one stall line per body trickler');
  // Nothing is left behind: the workers' fds are back to what they were.
  await until(() => workers.every((pid, i) => fdCount(pid)! <= fdsBefore[i] + 2), `worker fds back to ${fdsBefore} (now ${workers.map(fdCount)})`);
  t.deepEqual(spawnedWorkers(server.output()).map((w) => w.pid), workers);
  t.notRegex(server.output(), /DAMN|uncaught exception/);
  t.is((await get('/?n=after')).status, 200);
});

test.serial('--max-connections (bridge): at the limit new connections get 503 at once, one line when reached, one when back under, then served again', async (t) => {
  const MAX = 20;
  const bridge = await startBridge(t, { maxConnections: MAX, socketTimeoutMs: 10_000 });
  const front = await startNginx({ upstream: bridge.upstream });
  t.teardown(() => front.stop());
  const held = await openConnections(bridge.socket, MAX);
  await sleep(100);
  // Raw: the answer is immediate and readable.
  for (let i = 0; i < 3; i++) {
    const { reply } = await rawUwsgi(bridge.socket, uwsgiPacket(requestVars('GET', `/?n=over${i}`)));
    t.regex(reply.toString('latin1'), /^HTTP\/1\.1 503 Service Unavailable\r\n/);
  }
  // Through nginx: the client gets the 503 too, not a 502 from a reset.
  const viaNginx = await httpRequest({ method: 'GET', url: `${front.baseUrl}/?n=front`, timeoutMs: 15_000 });
  t.is(viaNginx.status, 503);
  await bridge.waitFor(/max-connections \(20\) reached: new uwsgi connections are answered 503 until some close \(see --max-connections\)/);
  t.is(bridge.output().match(/max-connections \(20\) reached/g)?.length, 1, 'logged once, not per refused connection');
  // Down to 90% of the limit: the worker says so, with the count it refused.
  held.slice(0, 2).forEach((s) => s.destroy());
  await bridge.waitFor(/back under max-connections \(18 of 20 open\); 4 connections were answered 503 meanwhile/);
  const ok = await httpRequest({ method: 'GET', url: `${front.baseUrl}/?n=ok`, timeoutMs: 15_000 });
  t.is(ok.status, 200);
  held.forEach((s) => s.destroy());
  t.notRegex(front.errorLog(), /reset by peer|prematurely closed/);
  t.notRegex(bridge.output(), /uncaught/);
});

test('--max-connections through the CLI reaches the workers', async (t) => {
  const cli = await startServer({ app: 'hard-app.mjs', args: ['--max-connections', '5', '--socket-timeout', '10'] });
  t.teardown(() => cli.stop());
  const held = await openConnections(cli.socket, 5);
  t.teardown(() => held.forEach((s) => s.destroy()));
  await sleep(100);
  const { reply } = await rawUwsgi(cli.socket, uwsgiPacket(requestVars('GET', '/?n=over')));
  t.regex(reply.toString('latin1'), /^HTTP\/1\.1 503 /);
});
