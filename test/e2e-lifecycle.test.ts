// Process lifecycle, end to end: the real CLI (bin/nuwsgi.js) behind the real nginx. Chain reload
// under load, graceful stop, worker crashes, harakiri, startup failures, socket files, ping.
// No test asserts a duration: every wait is bounded and sequenced on log lines or responses.

import test from 'ava';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { rawUwsgi } from './helpers/hardening.js';
import { count, get, isNuwsgiWorker, retiredPids, runCli, servedBy, shutdown, spawnedWorkers, stack, tempDir, until } from './helpers/lifecycle.js';
import { startNginx } from './helpers/nginx.js';
import { FIXTURE_APPS, startServer } from './helpers/server.js';
import { uwsgiPacket } from './helpers/uwsgi-packet.js';

test.serial('chain reload under load: two SIGHUPs, no failed request, every worker replaced', async (t) => {
  const { server, nginx } = await stack(t, { app: 'life-app.mjs', args: ['--processes', '2'] });
  const initial = spawnedWorkers(server.output()).map((w) => w.pid);
  t.is(initial.length, 2);

  const MIN_REQUESTS = 1500;
  const CAP = 6000;
  const CONCURRENCY = 8;
  const AFTER = 200;
  const failures: string[] = [];
  let sent = 0;
  let completed = 0;
  let settled = false; // both reloads done and every old worker gone
  const lastGeneration = new Set<number>();
  let afterSettled = 0;

  const client = async () => {
    while (sent < CAP && (sent < MIN_REQUESTS || !settled || afterSettled < AFTER)) {
      const n = sent++;
      const sentAfterSettled = settled;
      try {
        const pid = servedBy(await get(nginx, `/?n=${n}`), n);
        if (sentAfterSettled) {
          lastGeneration.add(pid);
          afterSettled++;
        }
      } catch (error) {
        failures.push(`request ${n}: ${(error as Error).message}`);
      }
      completed++;
    }
  };

  const reloads = async () => {
    await until(() => completed >= 200 || sent >= CAP, '200 requests before the first SIGHUP');
    process.kill(server.pid, 'SIGHUP');
    await server.waitFor(/chain reloading complete/, 30_000);
    process.kill(server.pid, 'SIGHUP');
    await until(() => count(server.output(), /chain reloading complete/) >= 2, 'the second chain reload', 30_000);
    // Old workers leave once their last request is answered; after that only new ones accept.
    await until(() => retiredPids(server.output()).length >= 4, 'four workers retired', 30_000);
    settled = true;
  };

  await Promise.all([reloads(), ...Array.from({ length: CONCURRENCY }, client)]);

  const log = server.output();
  t.log(`${completed} requests, ${afterSettled} after the reloads settled`);
  t.deepEqual(failures.slice(0, 10), [], `${failures.length} of ${completed} requests failed`);
  t.true(completed >= MIN_REQUESTS);
  t.is(count(log, /chain reloading complete/), 2);
  t.notRegex(log, /chain reload failed|DAMN|HARAKIRI/);
  const all = spawnedWorkers(log).map((w) => w.pid);
  t.is(all.length, 6, 'two workers at boot, two per reload');
  const current = all.slice(4);
  t.true(afterSettled >= AFTER);
  for (const pid of lastGeneration) t.true(current.includes(pid), `pid ${pid} served after the reloads but is not from the last generation`);
  for (const pid of initial) t.false(current.includes(pid));
  t.deepEqual(retiredPids(log).sort(), all.slice(0, 4).sort(), 'the first two generations retired, the last one serves');
});

test.serial('SIGTERM: in-flight requests finish with 200, exit 0, goodbye, --vacuum removes the socket', async (t) => {
  const { server, nginx } = await stack(t, { app: 'life-app.mjs', args: ['--processes', '2', '--vacuum'] });
  const slow = [0, 1, 2, 3].map((n) => get(nginx, `/slow?ms=1500&n=${n}`));
  await until(() => count(server.output(), /life-app: slow request \d+ started/) === 4, 'four slow requests in flight');
  process.kill(server.pid, 'SIGTERM');
  const responses = await Promise.all(slow);
  responses.forEach((res, n) => t.notThrows(() => servedBy(res, n)));
  t.is(await server.exited, 0);
  const log = server.output();
  t.regex(log, /SIGTERM: graceful shutdown triggered/);
  // The requests finished after the stop began, so the workers drained them rather than dying.
  t.true(log.indexOf('SIGTERM received') < log.indexOf('life-app: slow request 0 finished'));
  t.regex(log, /goodbye to nuwsgi/);
  t.false(existsSync(server.socket), 'socket file removed by --vacuum');
});

test.serial('a worker killed with SIGKILL is reported and respawned, and the server serves again', async (t) => {
  const { server, nginx } = await stack(t, { app: 'life-app.mjs', args: ['--processes', '1'] });
  const [first] = spawnedWorkers(server.output());
  t.is(servedBy(await get(nginx, '/?n=1'), 1), first.pid);
  process.kill(first.pid, 'SIGKILL');
  await server.waitFor(new RegExp(`DAMN ! worker ${first.id} \\(pid: ${first.pid}\\) died, killed by signal SIGKILL`));
  await until(() => spawnedWorkers(server.output()).length === 2, 'the respawn');
  const second = spawnedWorkers(server.output())[1];
  t.is(second.id, first.id);
  t.not(second.pid, first.pid);
  for (let n = 2; n < 6; n++) t.is(servedBy(await get(nginx, `/?n=${n}`), n), second.pid);
});

test.serial('an uncaught exception outside a request: logged, the worker exits once idle and is respawned', async (t) => {
  const { server, nginx } = await stack(t, { app: 'life-app.mjs', args: ['--processes', '1'] });
  const [first] = spawnedWorkers(server.output());
  t.is(servedBy(await get(nginx, '/throw-later?n=1'), 1), first.pid);
  await server.waitFor(/uncaught exception in worker 1 \(pid: \d+\): Error: boom from a timer/);
  await server.waitFor(new RegExp(`DAMN ! worker 1 \\(pid: ${first.pid}\\) died, exit code 1`));
  await until(() => spawnedWorkers(server.output()).length === 2, 'the respawn');
  const second = spawnedWorkers(server.output())[1];
  let pid = 0;
  for (let i = 0; i < 100 && pid !== second.pid; i++) pid = servedBy(await get(nginx, '/?n=2'), 2);
  t.is(pid, second.pid);
});

test.serial('a respawned worker whose app load hangs is killed after --ready-timeout and respawned again', async (t) => {
  const dir = tempDir(t);
  const gate = path.join(dir, 'hang');
  const { server, nginx } = await stack(t, {
    app: 'life-slow-load.mjs',
    // Long enough for the first worker to boot on a loaded CI machine; the respawn never will.
    args: ['--processes', '1', '--ready-timeout', '5'],
    env: { LIFE_LOAD_MS: '0', LIFE_HANG_IF_EXISTS: gate },
  });
  const [first] = spawnedWorkers(server.output());
  writeFileSync(gate, '');
  process.kill(first.pid, 'SIGKILL');
  await until(() => spawnedWorkers(server.output()).length === 2, 'the respawn');
  const stuck = spawnedWorkers(server.output())[1];
  await server.waitFor(new RegExp(`worker 1 \\(pid: ${stuck.pid}\\) did not become ready within ready-timeout \\(5s\\): SIGKILL`), 30_000);
  rmSync(gate);
  // Queued in the listen backlog until a respawn that can load the app listens.
  const pid = servedBy(await get(nginx, '/?n=1', 30_000), 1);
  t.false([first.pid, stuck.pid].includes(pid));
  t.true(spawnedWorkers(server.output()).some((w) => w.pid === pid));
});

test.serial('harakiri: a request that never answers gets 504 and the worker keeps serving', async (t) => {
  const { server, nginx } = await stack(t, { app: 'life-app.mjs', args: ['--processes', '1', '--harakiri', '1'] });
  const [worker] = spawnedWorkers(server.output());
  const res = await get(nginx, '/hang', 15_000);
  t.is(res.status, 504);
  await server.waitFor(/HARAKIRI ON WORKER 1 .*GET \/hang still running after 1s -- answering 504/);
  for (let n = 0; n < 3; n++) t.is(servedBy(await get(nginx, `/?n=${n}`), n), worker.pid, 'same worker, not a respawn');
  t.notRegex(server.output(), /DAMN|event loop blocked/);
});

test.serial('harakiri: a blocked event loop is caught by the master, the worker replaced, serving resumes', async (t) => {
  const { server, nginx } = await stack(t, { app: 'life-app.mjs', args: ['--processes', '1', '--harakiri', '1', '--harakiri-verbose'] });
  const [worker] = spawnedWorkers(server.output());
  // nginx answers the blocked request with an error once the worker is killed; its status is
  // nginx's business, only that it ends matters.
  const blocked = get(nginx, '/block?n=stuck', 30_000).catch((error: Error) => error);
  await server.waitFor(new RegExp(`\\*\\*\\* HARAKIRI ON WORKER 1 \\(pid: ${worker.pid}, try: 1\\) \\*\\*\\*\\nHARAKIRI: event loop of worker 1 blocked`), 20_000);
  // harakiri-verbose names the request that is stuck, with its age.
  await server.waitFor(/HARAKIRI \[worker 1\] GET \/block\?n=stuck running for \d+\.\ds/);
  await server.waitFor(new RegExp(`DAMN ! worker 1 \\(pid: ${worker.pid}\\) died, killed by signal SIGKILL`));
  const end = await blocked;
  t.true(end instanceof Error || end.status >= 500, 'the blocked request failed');
  await until(() => spawnedWorkers(server.output()).length === 2, 'the replacement worker');
  const replacement = spawnedWorkers(server.output())[1];
  for (let n = 0; n < 3; n++) t.is(servedBy(await get(nginx, `/?n=${n}`), n), replacement.pid);
});

test.serial('chain reload whose new app fails to load: reported, old workers keep serving', async (t) => {
  const dir = tempDir(t);
  const appFile = path.join(dir, 'app.mjs');
  copyFileSync(path.join(FIXTURE_APPS, 'life-app.mjs'), appFile);
  const { server, nginx } = await stack(t, { app: appFile, args: ['--processes', '2'] });
  const initial = spawnedWorkers(server.output()).map((w) => w.pid);

  writeFileSync(appFile, readFileSync(path.join(FIXTURE_APPS, 'life-throws.mjs')));
  process.kill(server.pid, 'SIGHUP');
  await server.waitFor(/chain reload failed/);
  const log = server.output();
  t.regex(log, /chain reload failed: the new worker 1 \(pid: \d+\) could not load the app/);
  t.regex(log, /boom while loading the app/, 'the load error is in the log');
  t.notRegex(log, /chain reloading complete|DAMN/);
  for (let n = 0; n < 10; n++) t.true(initial.includes(servedBy(await get(nginx, `/?n=${n}`), n)));

  // Fixed app, next SIGHUP: the failed attempt left nothing behind that blocks a reload.
  copyFileSync(path.join(FIXTURE_APPS, 'life-app.mjs'), appFile);
  process.kill(server.pid, 'SIGHUP');
  await server.waitFor(/chain reloading complete/);
  await until(() => retiredPids(server.output()).length === 2, 'the old workers retired');
  const current = spawnedWorkers(server.output()).slice(-2).map((w) => w.pid);
  for (let n = 0; n < 4; n++) t.true(current.includes(servedBy(await get(nginx, `/?n=${n}`), n)));
});

test.serial('a worker that dies during a chain reload: its respawn is retired too, one worker per slot', async (t) => {
  const { server, nginx } = await stack(t, { app: 'life-slow-load.mjs', args: ['--processes', '1'] });
  const [old] = spawnedWorkers(server.output());
  process.kill(server.pid, 'SIGHUP');
  // The replacement is loading (slowly): kill the worker it is about to replace.
  await until(() => spawnedWorkers(server.output()).length === 2, 'the replacement to be spawned');
  const fresh = spawnedWorkers(server.output())[1];
  process.kill(old.pid, 'SIGKILL');
  await server.waitFor(new RegExp(`DAMN ! worker 1 \\(pid: ${old.pid}\\) died`));
  await server.waitFor(/chain reloading complete/);
  t.regex(server.output(), new RegExp(`chain reload: worker 1 replaced \\(new pid: ${fresh.pid}\\)`));
  // Whatever else was spawned for slot 1 (a respawn, if it came before the replacement was
  // ready) must be retired: exactly one worker process remains.
  const others = spawnedWorkers(server.output()).filter((w) => w.pid !== fresh.pid);
  await until(() => others.every((w) => !isNuwsgiWorker(w.pid)), 'every other worker of slot 1 to exit');
  t.true(isNuwsgiWorker(fresh.pid));
  for (let n = 0; n < 4; n++) t.is(servedBy(await get(nginx, `/?n=${n}`), n), fresh.pid);
});

test.serial('SIGTERM during a chain reload also stops the replacement that is still loading', async (t) => {
  const server = await startServer({ app: 'life-slow-load.mjs', args: ['--processes', '1'] });
  t.teardown(() => shutdown(server));
  process.kill(server.pid, 'SIGHUP');
  await until(() => spawnedWorkers(server.output()).length === 2, 'the replacement to be spawned');
  process.kill(server.pid, 'SIGTERM');
  t.is(await server.exited, 0);
  t.regex(server.output(), /goodbye to nuwsgi/);
  const left = spawnedWorkers(server.output()).filter((w) => isNuwsgiWorker(w.pid));
  t.deepEqual(left, [], 'no worker outlives the master');
});

test.serial('SIGTERM while the workers are still loading the app: a clean stop, not a load failure', async (t) => {
  const server = await startServer({ app: 'life-slow-load.mjs', args: ['--processes', '2'], waitReady: false, env: { LIFE_LOAD_MS: '3000' } });
  t.teardown(() => shutdown(server));
  await server.waitFor(/spawned nuwsgi worker 2/);
  process.kill(server.pid, 'SIGTERM');
  t.is(await server.exited, 0);
  t.notRegex(server.output(), /GAME OVER|DAMN/);
  t.regex(server.output(), /goodbye to nuwsgi/);
});

test('startup: an app that throws while loading -> exit 22 and the error in the log', async (t) => {
  const dir = tempDir(t);
  const { code, output } = await runCli(['--socket', path.join(dir, 's.sock'), path.join(FIXTURE_APPS, 'life-throws.mjs')]);
  t.is(code, 22);
  t.regex(output, /boom while loading the app/);
  t.regex(output, /no app loaded/);
});

test('startup: a missing app file -> exit 22', async (t) => {
  const dir = tempDir(t);
  const missing = path.join(dir, 'nope.mjs');
  const { code, output } = await runCli(['--socket', path.join(dir, 's.sock'), missing]);
  t.is(code, 22);
  t.true(output.includes(`app file not found: ${missing}`), output);
});

test('startup: no socket option -> exit 1 with a clear message', async (t) => {
  const { code, output } = await runCli([path.join(FIXTURE_APPS, 'life-app.mjs')]);
  t.is(code, 1);
  t.regex(output, /no socket to serve on: give --socket/);
});

test('startup: an unknown option -> exit 1, suggesting the right one', async (t) => {
  const dir = tempDir(t);
  const { code, output } = await runCli(['--socket', path.join(dir, 's.sock'), '--proceses', '2', path.join(FIXTURE_APPS, 'life-app.mjs')]);
  t.is(code, 1);
  t.regex(output, /unknown option --proceses \(did you mean --processes\?\)/);
});

test('socket files: a stale one (its master SIGKILLed, its workers drained within mercy) is replaced at start; a live one is refused and keeps serving', async (t) => {
  // A server killed with SIGKILL leaves its socket file behind.
  const dead = await startServer({ app: 'life-app.mjs', args: ['--worker-reload-mercy', '1'] });
  t.teardown(() => shutdown(dead));
  const stale = dead.socket;
  // A request that never ends: without a master, the worker must still bound its drain.
  const hung = net.connect({ path: stale });
  t.teardown(() => void hung.destroy());
  hung.on('error', () => {});
  hung.write(uwsgiPacket([['REQUEST_METHOD', 'GET'], ['REQUEST_URI', '/hang?n=orphan']]));
  await dead.waitFor(/life-app: request orphan hangs/);
  process.kill(dead.pid, 'SIGKILL');
  await dead.exited;
  // Its workers notice the master is gone and leave; until then the socket is still served.
  const deadWorkers = spawnedWorkers(dead.output()).map((w) => w.pid);
  await until(() => deadWorkers.every((pid) => !isNuwsgiWorker(pid)), 'the orphaned workers to exit');
  t.regex(dead.output(), /1 requests still running after worker-reload-mercy \(1s\) -- exiting/);
  t.true(existsSync(stale), 'socket file left behind');

  const first = await startServer({ app: 'life-app.mjs', args: ['--socket', stale] });
  t.teardown(() => shutdown(first));
  const firstWorkers = spawnedWorkers(first.output()).map((w) => w.pid);
  const nginx = await startNginx({ upstream: `unix:${stale}` });
  t.teardown(() => nginx.stop());
  t.true(firstWorkers.includes(servedBy(await get(nginx, '/?n=1'), 1)), 'the new server answers on the old path');

  const second = await startServer({ app: 'life-app.mjs', args: ['--socket', stale], waitReady: false });
  t.teardown(() => shutdown(second));
  t.is(await second.exited, 1);
  t.regex(second.output(), new RegExp(`cannot bind ${stale.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: another server is accepting on it`));
  t.true(firstWorkers.includes(servedBy(await get(nginx, '/?n=2'), 2)), 'the first server still serves');
});

test('socket files: a live server whose listen queue is full is not taken for a stale one', async (t) => {
  const dir = tempDir(t);
  const sock = path.join(dir, 'busy.sock');
  // A server that listens with a queue of 1 and then never accepts (its event loop is blocked).
  const busy = spawn(
    process.execPath,
    ['-e', `require('net').createServer().listen({ path: ${JSON.stringify(sock)}, backlog: 1 }, () => { console.log('listening'); const end = Date.now() + 30000; while (Date.now() < end); })`],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  t.teardown(() => void busy.kill('SIGKILL'));
  await new Promise<void>((resolve) => busy.stdout!.once('data', () => resolve()));
  // Fill its queue: connects succeed until the kernel answers EAGAIN.
  const clients: net.Socket[] = [];
  t.teardown(() => clients.forEach((c) => c.destroy()));
  let full = false;
  for (let i = 0; i < 20 && !full; i++) {
    full = await new Promise<boolean>((resolve) => {
      const c = net.connect({ path: sock });
      clients.push(c);
      c.once('connect', () => resolve(false));
      c.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'EAGAIN'));
    });
  }
  t.true(full, 'the listen queue is full');
  const { code, output } = await runCli(['--socket', sock, path.join(FIXTURE_APPS, 'life-app.mjs')]);
  t.is(code, 1);
  t.true(output.includes(`cannot bind ${sock}: another server is accepting on it`), output);
  t.true(existsSync(sock), 'the busy server keeps its socket file');
});

test('ping: 64 00 00 00 is answered with exactly 64 00 00 01', async (t) => {
  const server = await startServer({ app: 'life-app.mjs' });
  t.teardown(() => shutdown(server));
  const { reply, reset } = await rawUwsgi(server.socket, Buffer.from([0x64, 0x00, 0x00, 0x00]));
  t.false(reset);
  t.is(reply.toString('hex'), '64000001');
});
