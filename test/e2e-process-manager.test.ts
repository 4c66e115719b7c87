// Process manager (issue 3), end to end through the real CLI (bin/nuwsgi.js), behind the real nginx
// where the front end matters: reload triggers under load, the master FIFO, recycling, crash
// policy, heartbeat and harakiri, pidfiles and identity. Assertions are on what users see:
// responses, log lines, exit codes, files and /proc. No test asserts a duration: every wait is
// bounded and sequenced on log lines, responses or files.

import test from 'ava';
import { chownSync, closeSync, constants, existsSync, lstatSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { count, get, isNuwsgiWorker, retiredPids, runCli, servedBy, shutdown, sleep, spawnedWorkers, stack, tempDir, until } from './helpers/lifecycle.js';
import type { NginxInstance } from './helpers/nginx.js';
import { FIXTURE_APPS, startServer, type ServerInstance } from './helpers/server.js';

const LIFE_APP = path.join(FIXTURE_APPS, 'life-app.mjs');

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** Wait until `pattern` has matched the log at least `n` times. */
const waitCount = (server: ServerInstance, pattern: RegExp, n: number, timeoutMs = 30_000) =>
  until(() => count(server.output(), pattern) >= n, `${n} x ${pattern}`, timeoutMs);

/**
 * Write command letters to a master FIFO. The open is non-blocking, so a FIFO nobody reads yet
 * (the master is between two opens, or not reading it at all) fails with ENXIO instead of hanging
 * the test: retry within the bound.
 */
async function fifoWrite(fifo: string, letters: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let fd: number;
    try {
      fd = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if ((code === 'ENXIO' || code === 'ENOENT') && Date.now() < deadline) {
        await sleep(20);
        continue;
      }
      throw error;
    }
    try {
      writeSync(fd, letters);
    } finally {
      closeSync(fd);
    }
    return;
  }
}

/** Does a process read this FIFO now? A non-blocking writer open fails with ENXIO (or ENOENT) if not. */
function fifoHasReader(fifo: string): boolean {
  try {
    closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENXIO' || code === 'ENOENT') return false;
    throw error;
  }
}

/** The per-worker lines of FIFO `s` output. */
function statsLines(log: string): { id: number; pid: number; status: string }[] {
  return [...log.matchAll(/^worker (\d+) pid (\d+) status (\w+) requests \d+ in-flight \d+ rss [^\n]* running \d+s$/gm)].map((m) => ({
    id: Number(m[1]),
    pid: Number(m[2]),
    status: m[3],
  }));
}

function procStatus(pid: number, field: string): string {
  const m = new RegExp(`^${field}:\\s*(.*)$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no ${field} in /proc/${pid}/status`);
  return m[1].trim().replace(/\s+/g, ' ');
}

/**
 * A bounded client loop through nginx: `concurrency` loops of GET /?n=<n>, each checked with
 * servedBy(); runs until `keepGoing()` is false (and at least `min` requests), at most `cap`.
 */
function load(nginx: NginxInstance, opts: { concurrency: number; min: number; cap: number; keepGoing: () => boolean }) {
  const stats = { sent: 0, completed: 0, failures: [] as string[], maxMs: 0, maxN: -1, pids: [] as number[] };
  const client = async () => {
    while (stats.sent < opts.cap && (stats.sent < opts.min || opts.keepGoing())) {
      const n = stats.sent++;
      const start = Date.now();
      try {
        const pid = servedBy(await get(nginx, `/?n=${n}`), n);
        stats.pids.push(pid);
      } catch (error) {
        stats.failures.push(`request ${n}: ${(error as Error).message}`);
      }
      const ms = Date.now() - start;
      if (ms > stats.maxMs) {
        stats.maxMs = ms;
        stats.maxN = n;
      }
      stats.completed++;
    }
  };
  const done = Promise.all(Array.from({ length: opts.concurrency }, client));
  return { stats, done };
}

// ---- 1. reload storm -------------------------------------------------------------------------

test.serial('reload storm under load: SIGHUP, FIFO r c w, touch-reload, touch-chain-reload, --reload PIDFILE; no failed request', async (t) => {
  const dir = tempDir(t);
  const fifo = path.join(dir, 'master.fifo');
  const touchReload = path.join(dir, 'touch-reload');
  const touchChain = path.join(dir, 'touch-chain');
  const pidfile = path.join(dir, 'nuwsgi.pid');
  writeFileSync(touchReload, '');
  writeFileSync(touchChain, '');
  const { server, nginx } = await stack(t, {
    app: 'life-app.mjs',
    args: ['--processes', '2', '--master-fifo', fifo, '--touch-reload', touchReload, '--touch-chain-reload', touchChain, '--pidfile', pidfile],
  });
  const initial = spawnedWorkers(server.output()).map((w) => w.pid);
  t.is(initial.length, 2);

  let settled = false;
  const { stats, done } = load(nginx, { concurrency: 8, min: 2000, cap: 20_000, keepGoing: () => !settled });
  const chains = /chain reloading complete in \d+ ms/;
  const timings: string[] = [];
  const touch = (file: string) => {
    const later = new Date(Date.now() + 5000);
    utimesSync(file, later, later);
  };
  const triggers: [string, () => Promise<void> | void, RegExp][] = [
    ['SIGHUP', () => void process.kill(server.pid, 'SIGHUP'), chains],
    ['FIFO r', () => fifoWrite(fifo, 'r'), chains],
    ['FIFO c', () => fifoWrite(fifo, 'c'), chains],
    ['FIFO w', () => fifoWrite(fifo, 'w'), /all workers reloaded in \d+ ms/],
    ['touch-reload', () => touch(touchReload), chains],
    ['touch-chain-reload', () => touch(touchChain), chains],
    [
      '--reload PIDFILE',
      async () => {
        const client = await runCli(['--reload', pidfile]);
        t.is(client.code, 0, client.output);
        t.regex(client.output, new RegExp(`sent SIGHUP to nuwsgi master ${server.pid}`));
      },
      chains,
    ],
  ];
  const storm = async () => {
    await until(() => stats.completed >= 200, '200 requests before the first reload');
    for (const [name, fire, complete] of triggers) {
      const before = count(server.output(), complete);
      const started = Date.now();
      await fire();
      await waitCount(server, complete, before + 1);
      timings.push(`${name}: ${Date.now() - started} ms`);
    }
    // Old workers leave once their last request is answered: 2 at boot + 2 per reload, 2 remain.
    await until(() => retiredPids(server.output()).length >= 2 * triggers.length, 'every replaced worker retired');
    settled = true;
  };
  await Promise.all([storm(), done]);

  const log = server.output();
  t.log(`${stats.completed} requests, longest ${stats.maxMs} ms (request ${stats.maxN}); signal to completion: ${timings.join(', ')}`);
  t.log(`master's own chain timings: ${[...log.matchAll(/chain reloading complete in (\d+) ms/g)].map((m) => m[1] + ' ms').join(', ')}`);
  t.deepEqual(stats.failures.slice(0, 10), [], `${stats.failures.length} of ${stats.completed} requests failed`);
  t.true(stats.completed >= 2000);
  t.is(count(log, chains), 6);
  t.is(count(log, /all workers reloaded in \d+ ms/), 1);
  t.is(count(log, /has been touched\.\.\. chain reloading workers/), 2);
  t.notRegex(log, /failed|ignored|DAMN|HARAKIRI|NO MERCY/);
  const all = spawnedWorkers(log).map((w) => w.pid);
  t.is(all.length, 2 + 2 * triggers.length, 'two workers at boot, two per reload');
  const current = all.slice(-2);
  t.deepEqual(retiredPids(log).sort(), all.slice(0, -2).sort(), 'every earlier generation retired');
  for (const pid of initial) t.false(isNuwsgiWorker(pid), `original worker ${pid} is gone`);
  // After the last retirement only the last generation answers.
  const after = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => get(nginx, `/?n=after${i}`)));
  after.forEach((res, i) => t.true(current.includes(servedBy(res, `after${i}`))));
});

// ---- 2. the master FIFO ----------------------------------------------------------------------

test('FIFO: mode 0600; + / SIGTTIN grow, - / SIGTTOU shrink (never below 1); s prints a line per worker; unknown letters are logged', async (t) => {
  const dir = tempDir(t);
  const fifo = path.join(dir, 'master.fifo');
  const { server, nginx } = await stack(t, { app: 'life-app.mjs', args: ['--processes', '1', '--master-fifo', fifo] });
  const st = lstatSync(fifo);
  t.true(st.isFIFO());
  t.is(st.mode & 0o777, 0o600);
  const [first] = spawnedWorkers(server.output());

  await fifoWrite(fifo, '+');
  await server.waitFor(/pool grows to 2 workers/);
  process.kill(server.pid, 'SIGTTIN');
  await server.waitFor(/pool grows to 3 workers/);
  t.deepEqual(spawnedWorkers(server.output()).map((w) => w.id), [1, 2, 3]);

  const mark = server.output().length;
  await fifoWrite(fifo, 's');
  await until(() => statsLines(server.output().slice(mark)).length >= 3, 'three stats lines');
  const stats = statsLines(server.output().slice(mark));
  t.deepEqual(stats.map((s) => s.id), [1, 2, 3]);
  t.deepEqual(stats.map((s) => s.pid), spawnedWorkers(server.output()).map((w) => w.pid));
  t.regex(server.output().slice(mark), new RegExp(`nuwsgi stats: master pid ${server.pid}, 3 workers`));
  for (const { pid } of stats) t.true(isNuwsgiWorker(pid));
  // Requests go to workers of the pool (which one is the kernel's choice).
  const pids = await Promise.all(Array.from({ length: 12 }, (_, n) => get(nginx, `/slow?ms=100&n=${n}`).then((r) => servedBy(r, n))));
  for (const pid of pids) t.true(stats.some((s) => s.pid === pid));

  await fifoWrite(fifo, '-');
  await server.waitFor(/pool shrinks to 2 workers/);
  await server.waitFor(/worker 3 killed successfully/);
  process.kill(server.pid, 'SIGTTOU');
  await server.waitFor(/pool shrinks to 1 worker\b/);
  await server.waitFor(/worker 2 killed successfully/);
  await fifoWrite(fifo, '-');
  await server.waitFor(/pool shrink ignored: nuwsgi keeps at least one worker/);
  for (let n = 0; n < 6; n++) t.is(servedBy(await get(nginx, `/?n=${n}`), n), first.pid, 'only worker 1 is left');

  await fifoWrite(fifo, 'x');
  await server.waitFor(/master-fifo: unknown command "x" ignored/);
  const mark2 = server.output().length;
  await fifoWrite(fifo, 's');
  await server.waitFor(/nuwsgi stats: master pid \d+, 1 worker,/);
  await until(() => statsLines(server.output().slice(mark2)).length >= 1, 'one stats line');
  await sleep(200); // a second line would be written in the same tick
  t.deepEqual(statsLines(server.output().slice(mark2)).map((s) => s.pid), [first.pid]);
  t.notRegex(server.output(), /DAMN/);
});

test('SIGTTOU during a chain reload: the pool stays shrunk (the reload does not bring the removed slot back)', async (t) => {
  const dir = tempDir(t);
  const fifo = path.join(dir, 'master.fifo');
  const { server, nginx } = await stack(t, {
    app: 'life-slow-load.mjs',
    args: ['--processes', '2', '--master-fifo', fifo],
    env: { LIFE_LOAD_MS: '1000' },
  });
  process.kill(server.pid, 'SIGHUP');
  await server.waitFor(/chain next victim is worker 1/);
  process.kill(server.pid, 'SIGTTOU');
  await server.waitFor(/pool shrinks to 1 worker\b/);
  await server.waitFor(/chain reloading complete/);
  await until(() => spawnedWorkers(server.output()).every((w) => w.id === 1 || !isNuwsgiWorker(w.pid)), 'every worker of slot 2 to exit', 20_000);
  const mark = server.output().length;
  await fifoWrite(fifo, 's');
  await server.waitFor(/nuwsgi stats: master pid \d+, 1 worker,/);
  await until(() => statsLines(server.output().slice(mark)).length >= 1, 'the stats line');
  await sleep(200);
  const stats = statsLines(server.output().slice(mark));
  t.deepEqual(stats.map((s) => s.id), [1]);
  for (let n = 0; n < 4; n++) t.is(servedBy(await get(nginx, `/?n=${n}`), n), stats[0].pid);
});

test('FIFO P after --uid: a pidfile the dropped user cannot rewrite is logged, the master keeps running', async (t) => {
  const dir = tempDir(t);
  const pidfile = path.join(dir, 'root.pid'); // written as root, before the drop
  const fifoDir = path.join(dir, 'fifo');
  mkdirSync(fifoDir);
  chownSync(fifoDir, 65534, 65534);
  const fifo = path.join(fifoDir, 'master.fifo');
  const { server, nginx } = await stack(t, { app: 'life-app.mjs', args: ['--uid', 'nobody', '--gid', nobodyGroup().name, '--pidfile', pidfile, '--master-fifo', fifo] });
  await fifoWrite(fifo, 'P');
  await server.waitFor(new RegExp(`${escape(pidfile)}.*EACCES`));
  const [worker] = spawnedWorkers(server.output());
  t.is(servedBy(await get(nginx, '/?n=1'), 1), worker.pid);
  await fifoWrite(fifo, '+');
  await server.waitFor(/pool grows to 2 workers/);
  t.is(readFileSync(pidfile, 'utf8'), `${server.pid}\n`);
});

test('FIFO q: graceful stop, the slow in-flight request completes, exit 0', async (t) => {
  const dir = tempDir(t);
  const fifo = path.join(dir, 'master.fifo');
  const { server, nginx } = await stack(t, { app: 'life-app.mjs', args: ['--processes', '2', '--master-fifo', fifo] });
  const slow = get(nginx, '/slow?ms=1500&n=q');
  await server.waitFor(/life-app: slow request q started/);
  await fifoWrite(fifo, 'q');
  const res = await slow;
  t.notThrows(() => servedBy(res, 'q'));
  t.is(await server.exited, 0);
  const log = server.output();
  t.regex(log, /master-fifo q: graceful shutdown triggered/);
  t.true(log.indexOf('master-fifo q') < log.indexOf('life-app: slow request q finished'), 'the request finished after the stop began');
  t.regex(log, /goodbye to nuwsgi/);
});

test('FIFO Q: fast stop, the slow in-flight request is cut, exit 0', async (t) => {
  const dir = tempDir(t);
  const fifo = path.join(dir, 'master.fifo');
  const { server, nginx } = await stack(t, { app: 'life-app.mjs', args: ['--processes', '2', '--master-fifo', fifo] });
  const slow = get(nginx, '/slow?ms=5000&n=Q').catch((error: Error) => error);
  await server.waitFor(/life-app: slow request Q started/);
  await fifoWrite(fifo, 'Q');
  t.is(await server.exited, 0);
  const res = await slow;
  t.true(res instanceof Error || res.status === 502, 'the in-flight request was cut');
  t.regex(server.output(), /master-fifo Q: \.\.\.killing workers\.\.\./);
  t.notRegex(server.output(), /slow request Q finished/);
});

test('FIFO slots: slot 1 is not read until 1 is written to slot 0; then slot 1 works and slot 0 is silent', async (t) => {
  const dir = tempDir(t);
  const slot0 = path.join(dir, 'slot0.fifo');
  const slot1 = path.join(dir, 'slot1.fifo');
  const server = await startServer({ app: 'life-app.mjs', args: ['--processes', '1', '--master-fifo', slot0, '--master-fifo', slot1] });
  t.teardown(() => shutdown(server));
  // Nobody reads slot 1 yet: a writer cannot even open it, so no command sent there can act.
  t.false(fifoHasReader(slot1));
  await fifoWrite(slot0, '+');
  await server.waitFor(/pool grows to 2 workers/);

  await fifoWrite(slot0, '1');
  await server.waitFor(new RegExp(`master-fifo: switching to slot 1 \\(${escape(slot1)}\\)`));
  await until(() => fifoHasReader(slot1), 'the master to read slot 1');
  t.is(lstatSync(slot1).mode & 0o777, 0o600);
  t.false(fifoHasReader(slot0), 'slot 0 is no longer read');
  await fifoWrite(slot1, '-');
  await server.waitFor(/pool shrinks to 1 worker\b/);
  await fifoWrite(slot1, '7');
  await server.waitFor(/master-fifo: there is no slot 7 \(2 FIFOs configured\)/);
  await fifoWrite(slot1, '0');
  await server.waitFor(/master-fifo: switching to slot 0/);
  await fifoWrite(slot0, '+');
  await server.waitFor(/pool grows to 2 workers[\s\S]*pool grows to 2 workers/);
});

test('FIFO slots: switching to a slot whose path is taken by a regular file is refused; the master keeps serving and reading slot 0', async (t) => {
  const dir = tempDir(t);
  const slot0 = path.join(dir, 'slot0.fifo');
  const slot1 = path.join(dir, 'slot1.fifo');
  const { server, nginx } = await stack(t, { app: 'life-app.mjs', args: ['--processes', '1', '--master-fifo', slot0, '--master-fifo', slot1] });
  // What `echo + > slot1.fifo` does while nobody reads slot 1: a plain file.
  writeFileSync(slot1, '+\n');
  await fifoWrite(slot0, '1');
  await server.waitFor(new RegExp(`master-fifo ${escape(slot1)}.*not a FIFO`));
  t.is(readFileSync(slot1, 'utf8'), '+\n', 'the file is left alone');
  const [worker] = spawnedWorkers(server.output());
  t.is(servedBy(await get(nginx, '/?n=1'), 1), worker.pid);
  await fifoWrite(slot0, '+');
  await server.waitFor(/pool grows to 2 workers/);
  t.notRegex(server.output(), /uncaught|DAMN/i);
});

test('FIFO: recreated when deleted (once the writer closes), still mode 0600, and commands work again', async (t) => {
  const dir = tempDir(t);
  const fifo = path.join(dir, 'master.fifo');
  const server = await startServer({ app: 'life-app.mjs', args: ['--processes', '1', '--master-fifo', fifo] });
  t.teardown(() => shutdown(server));
  // A writer that has the FIFO open while someone deletes it.
  let fd = -1;
  await until(() => {
    try {
      fd = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
      return true;
    } catch {
      return false;
    }
  }, 'a writer open on the FIFO');
  unlinkSync(fifo);
  writeSync(fd, 's');
  closeSync(fd);
  await server.waitFor(/nuwsgi stats: master pid/);
  await until(() => existsSync(fifo), 'the FIFO to be recreated');
  const st = lstatSync(fifo);
  t.true(st.isFIFO());
  t.is(st.mode & 0o777, 0o600);
  await fifoWrite(fifo, '+');
  await server.waitFor(/pool grows to 2 workers/);
});

test('FIFO p: pause freezes the workers; a request sent meanwhile completes only after the second p; reloads and resizes are refused meanwhile', async (t) => {
  const dir = tempDir(t);
  const fifo = path.join(dir, 'master.fifo');
  const { server, nginx } = await stack(t, { app: 'life-app.mjs', args: ['--processes', '2', '--master-fifo', fifo] });
  const workers = spawnedWorkers(server.output()).map((w) => w.pid);
  await fifoWrite(fifo, 'p');
  await server.waitFor(/nuwsgi paused/);
  for (const pid of workers) await until(() => procStatus(pid, 'State').startsWith('T'), `worker ${pid} stopped`);
  let answered = false;
  const pending = get(nginx, '/?n=paused').then((res) => {
    answered = true;
    return res;
  });
  // While paused nothing may start a worker that would serve (or freeze one mid-drain).
  process.kill(server.pid, 'SIGHUP');
  await server.waitFor(/chain reload ignored: nuwsgi is paused \(master FIFO p resumes\)/);
  await fifoWrite(fifo, '+');
  await server.waitFor(/pool grow ignored: nuwsgi is paused/);
  // Long enough for the request to reach the listen queue through nginx; it must still wait.
  await sleep(1000);
  t.false(answered, 'answered while paused');
  t.is(spawnedWorkers(server.output()).length, 2, 'no worker spawned while paused');
  await fifoWrite(fifo, 'p');
  await server.waitFor(/nuwsgi resumed/);
  t.true(workers.includes(servedBy(await pending, 'paused')));
  t.notRegex(server.output(), /DAMN|heartbeat/);
});

// ---- 3. recycling ----------------------------------------------------------------------------

test('--max-requests 3 --min-worker-lifetime 0: after 3 requests the worker says Seeya, is respawned, a new pid serves', async (t) => {
  const { server, nginx } = await stack(t, { app: 'life-app.mjs', args: ['--processes', '1', '--max-requests', '3', '--min-worker-lifetime', '0'] });
  const [first] = spawnedWorkers(server.output());
  for (let n = 1; n <= 3; n++) t.is(servedBy(await get(nginx, `/?n=${n}`), n), first.pid);
  await server.waitFor(new RegExp(`\\.\\.\\.The work of process ${first.pid} is done \\(max-requests 3 reached\\)\\. Seeya!`));
  const respawned = await server.waitFor(/Respawned nuwsgi worker 1 \(new pid: (\d+)\) \(max-requests\)/);
  const next = Number(/new pid: (\d+)/.exec(respawned)![1]);
  await server.waitFor(new RegExp(`worker 1 killed successfully \\(pid: ${first.pid}, exit code 0\\)`));
  t.is(servedBy(await get(nginx, '/?n=4'), 4), next);
  t.notRegex(server.output(), /DAMN/);
});

test('--max-requests-delta staggers: worker 1 recycles after 2 requests, worker 2 after 4', async (t) => {
  const { server, nginx } = await stack(t, {
    app: 'life-app.mjs',
    args: ['--processes', '2', '--max-requests', '2', '--max-requests-delta', '2', '--min-worker-lifetime', '0'],
  });
  const [w1, w2] = spawnedWorkers(server.output());
  const seeya = () => [...server.output().matchAll(/The work of process (\d+) is done \(max-requests (\d+) reached\)/g)].map((m) => ({ pid: Number(m[1]), limit: Number(m[2]) }));
  const failures: string[] = [];
  for (let n = 0; n < 300 && !(seeya().some((s) => s.pid === w1.pid) && seeya().some((s) => s.pid === w2.pid)); n++) {
    try {
      servedBy(await get(nginx, `/?n=${n}`), n);
    } catch (error) {
      failures.push((error as Error).message);
    }
  }
  await until(() => seeya().some((s) => s.pid === w2.pid), 'the original worker 2 to recycle', 5000);
  t.deepEqual(failures, []);
  const idOf = new Map(spawnedWorkers(server.output()).map((w) => [w.pid, w.id]));
  for (const { pid, limit } of seeya()) t.is(limit, 2 + (idOf.get(pid)! - 1) * 2, `worker pid ${pid} (id ${idOf.get(pid)})`);
  t.true(seeya().some((s) => s.limit === 2) && seeya().some((s) => s.limit === 4));
  t.notRegex(server.output(), /DAMN/);
});

test('--min-worker-lifetime 5 delays max-requests: no recycle within the first requests, then one', async (t) => {
  const { server, nginx } = await stack(t, { app: 'life-app.mjs', args: ['--processes', '1', '--max-requests', '3', '--min-worker-lifetime', '5'] });
  const [first] = spawnedWorkers(server.output());
  for (let n = 1; n <= 5; n++) t.is(servedBy(await get(nginx, `/?n=${n}`), n), first.pid);
  t.notRegex(server.output(), /Seeya/, 'no recycle before min-worker-lifetime');
  // Keep sending (spaced out) until the lifetime has passed and the next request recycles it.
  let n = 6;
  const deadline = Date.now() + 20_000;
  while (!/Seeya/.test(server.output()) && Date.now() < deadline) {
    t.is(servedBy(await get(nginx, `/?n=${n}`), n), first.pid);
    n++;
    await sleep(250);
  }
  t.regex(server.output(), new RegExp(`The work of process ${first.pid} is done \\(max-requests 3 reached\\)\\. Seeya!`));
  t.true(n > 6, 'served more than max-requests before recycling');
  await server.waitFor(/Respawned nuwsgi worker 1 \(new pid: \d+\)/);
  const next = spawnedWorkers(server.output())[1].pid;
  t.is(servedBy(await get(nginx, `/?n=${n}`), n), next);
});

test('--max-worker-lifetime 2: the worker is recycled successor first, no request fails meanwhile', async (t) => {
  const { server, nginx } = await stack(t, { app: 'life-app.mjs', args: ['--processes', '1', '--max-worker-lifetime', '2'] });
  const replaced = /max-worker-lifetime: worker 1 replaced \(new pid: \d+\)/;
  const deadline = Date.now() + 30_000;
  const { stats, done } = load(nginx, { concurrency: 4, min: 100, cap: 50_000, keepGoing: () => count(server.output(), replaced) < 2 && Date.now() < deadline });
  await done;
  const log = server.output();
  t.true(count(log, replaced) >= 2, log);
  t.deepEqual(stats.failures.slice(0, 10), [], `${stats.failures.length} of ${stats.completed} failed`);
  const spawned = spawnedWorkers(log).map((w) => w.pid);
  t.regex(log, new RegExp(`worker 1 \\(pid: ${spawned[0]}\\) lifetime reached \\(max-worker-lifetime 2s\\): recycling it`));
  t.true(retiredPids(log).includes(spawned[0]));
  t.true(new Set(stats.pids).size >= 2, 'more than one generation served');
  t.notRegex(log, /DAMN/);
});

test('--reload-on-rss: a leaking worker is recycled (above reload-on-rss), no failed request, a new pid serves', async (t) => {
  const { server, nginx } = await stack(t, { app: 'pm-leak.mjs', args: ['--processes', '1', '--reload-on-rss', '100', '--min-worker-lifetime', '0'] });
  const [first] = spawnedWorkers(server.output());
  const replaced = /reload-on-rss: worker 1 replaced \(new pid: (\d+)\)/;
  const failures: string[] = [];
  let n = 0;
  const deadline = Date.now() + 30_000;
  // Paced, so the worker does not balloon far past the limit between two samples.
  while (!replaced.test(server.output()) && Date.now() < deadline && n < 100) {
    try {
      servedBy(await get(nginx, `/?n=${n}`), n);
    } catch (error) {
      failures.push((error as Error).message);
    }
    n++;
    await sleep(200);
  }
  const log = server.output();
  t.regex(log, new RegExp(`worker 1 \\(pid: ${first.pid}\\) rss usage [\\d.]+ MB is above reload-on-rss 100 MB: recycling it`));
  const next = Number(replaced.exec(log)?.[1]);
  t.deepEqual(failures, []);
  await server.waitFor(new RegExp(`worker 1 killed successfully \\(pid: ${first.pid}, exit code 0\\)`));
  t.is(servedBy(await get(nginx, '/?n=last'), 'last'), next);
  t.notRegex(log, /DAMN|evil/);
});

test('--evil-reload-on-rss: a leaking worker is SIGKILLed by the master and respawned', async (t) => {
  const { server, nginx } = await stack(t, { app: 'pm-leak.mjs', args: ['--processes', '1', '--evil-reload-on-rss', '100'] });
  const [first] = spawnedWorkers(server.output());
  const died = new RegExp(`DAMN ! worker 1 \\(pid: ${first.pid}\\) died, killed by signal SIGKILL`);
  let n = 0;
  const deadline = Date.now() + 30_000;
  while (!died.test(server.output()) && Date.now() < deadline && n < 100) {
    await get(nginx, `/?n=${n++}`).catch(() => undefined); // the one in flight at the kill may fail
    await sleep(200);
  }
  const log = server.output();
  t.regex(log, new RegExp(`\\[evil-reload-on-rss\\] worker 1 \\(pid: ${first.pid}\\) rss usage [\\d.]+ MB is above 100 MB: SIGKILL`));
  t.regex(log, died);
  await until(() => spawnedWorkers(server.output()).length === 2, 'the respawn');
  const next = spawnedWorkers(server.output())[1];
  t.is(next.id, 1);
  t.is(servedBy(await get(nginx, '/?n=last'), 'last'), next.pid);
});

// ---- 4. crash policy -------------------------------------------------------------------------

test('crash loop: workers that die right after loading are respawned with growing delays, then --crash-loop-limit 3 gives up with exit 1', async (t) => {
  const dir = tempDir(t);
  const { code, output } = await runCli(['--socket', path.join(dir, 's.sock'), '--crash-loop-limit', '3', path.join(FIXTURE_APPS, 'pm-crash.mjs')], 30_000);
  t.is(code, 1, output);
  t.is(count(output, /DAMN ! worker 1 \(pid: \d+\) died, exit code 1/), 3);
  t.regex(output, /worker respawning too fast !!! .*respawning in 100 ms/);
  t.regex(output, /worker respawning too fast !!! .*respawning in 200 ms/);
  t.regex(output, /\*\*\* 3 workers in a row died within 2s of starting: the app keeps crashing, giving up \(crash-loop-limit 3\) \*\*\*/);
  t.is(spawnedWorkers(output).length, 3);
  for (const { pid } of spawnedWorkers(output)) t.false(isNuwsgiWorker(pid));
});

test('crash loop of an app that loads slowly (2.5 s) and dies right after: still bounded by --crash-loop-limit (quick deaths count from ready)', async (t) => {
  const dir = tempDir(t);
  const { code, output } = await runCli(['--socket', path.join(dir, 's.sock'), '--crash-loop-limit', '2', path.join(FIXTURE_APPS, 'pm-crash.mjs')], 60_000, { PM_LOAD_MS: '2500' });
  t.is(code, 1, output);
  t.regex(output, /worker respawning too fast !!! 1 death in a row within 2s of start: respawning in 100 ms/);
  t.regex(output, /giving up \(crash-loop-limit 2\)/);
  t.is(spawnedWorkers(output).length, 2);
});

test('SIGINT: fast stop, a slow in-flight request is cut, exit 0', async (t) => {
  const { server, nginx } = await stack(t, { app: 'life-app.mjs', args: ['--processes', '2'] });
  const slow = get(nginx, '/slow?ms=5000&n=int').catch((error: Error) => error);
  await server.waitFor(/life-app: slow request int started/);
  process.kill(server.pid, 'SIGINT');
  t.is(await server.exited, 0);
  const res = await slow;
  t.true(res instanceof Error || res.status === 502, 'the in-flight request was cut');
  t.regex(server.output(), /SIGINT: \.\.\.killing workers\.\.\./);
  t.notRegex(server.output(), /slow request int finished/);
  for (const { pid } of spawnedWorkers(server.output())) t.false(isNuwsgiWorker(pid));
});

// ---- 5. heartbeat and harakiri ---------------------------------------------------------------

test('--worker-heartbeat 2 without harakiri: a blocked event loop is killed with the heartbeat message and respawned', async (t) => {
  const { server, nginx } = await stack(t, { app: 'life-app.mjs', args: ['--processes', '1', '--worker-heartbeat', '2'] });
  const [first] = spawnedWorkers(server.output());
  const blocked = get(nginx, '/block?n=b', 30_000).catch((error: Error) => error);
  await server.waitFor(new RegExp(`worker 1 \\(pid: ${first.pid}\\) sent no heartbeat for \\d+\\.\\ds \\(worker-heartbeat 2s\\): event loop stuck, killing it`), 20_000);
  await server.waitFor(new RegExp(`DAMN ! worker 1 \\(pid: ${first.pid}\\) died, killed by signal SIGKILL`));
  const end = await blocked;
  t.true(end instanceof Error || end.status >= 500);
  await until(() => spawnedWorkers(server.output()).length === 2, 'the respawn');
  t.is(servedBy(await get(nginx, '/?n=1'), 1), spawnedWorkers(server.output())[1].pid);
  t.notRegex(server.output(), /HARAKIRI/);
});

test('--harakiri 1 --harakiri-graceful-timeout 1: a blocked loop gets try 1 (SIGTERM), then try 2 (SIGKILL), and is respawned', async (t) => {
  const { server, nginx } = await stack(t, { app: 'life-app.mjs', args: ['--processes', '1', '--harakiri', '1', '--harakiri-graceful-timeout', '1'] });
  const [first] = spawnedWorkers(server.output());
  const blocked = get(nginx, '/block?n=h', 30_000).catch((error: Error) => error);
  await server.waitFor(new RegExp(`\\*\\*\\* HARAKIRI ON WORKER 1 \\(pid: ${first.pid}, try: 1\\) \\*\\*\\*`), 20_000);
  await server.waitFor(
    new RegExp(`\\*\\*\\* HARAKIRI ON WORKER 1 \\(pid: ${first.pid}, try: 2\\) \\*\\*\\* still blocked after harakiri-graceful-timeout \\(1s\\): SIGKILL`),
  );
  await server.waitFor(new RegExp(`DAMN ! worker 1 \\(pid: ${first.pid}\\) died, killed by signal SIGKILL`));
  const log = server.output();
  t.true(log.indexOf('try: 1') < log.indexOf('try: 2'));
  const end = await blocked;
  t.true(end instanceof Error || end.status >= 500);
  await until(() => spawnedWorkers(server.output()).length === 2, 'the respawn');
  t.is(servedBy(await get(nginx, '/?n=1'), 1), spawnedWorkers(server.output())[1].pid);
});

// ---- 6. files and identity -------------------------------------------------------------------

test('--pidfile and --safe-pidfile hold the master pid; --stop PIDFILE stops it gracefully (exit 0)', async (t) => {
  const dir = tempDir(t);
  const pidfile = path.join(dir, 'a.pid');
  const safe = path.join(dir, 'b.pid');
  const server = await startServer({ app: 'life-app.mjs', args: ['--pidfile', pidfile, '--safe-pidfile', safe] });
  t.teardown(() => shutdown(server));
  t.is(readFileSync(pidfile, 'utf8'), `${server.pid}\n`);
  t.is(readFileSync(safe, 'utf8'), `${server.pid}\n`);
  const client = await runCli(['--stop', pidfile]);
  t.is(client.code, 0, client.output);
  t.regex(client.output, new RegExp(`sent SIGTERM to nuwsgi master ${server.pid}`));
  t.is(await server.exited, 0);
  t.regex(server.output(), /SIGTERM: graceful shutdown triggered[\s\S]*goodbye to nuwsgi/);
});

test('--stop / --reload with a missing pidfile: exit 1 with a clear message', async (t) => {
  const dir = tempDir(t);
  const missing = path.join(dir, 'none.pid');
  for (const command of ['--stop', '--reload']) {
    const { code, output } = await runCli([command, missing]);
    t.is(code, 1);
    t.true(output.includes(`cannot read pidfile ${missing}`), output);
  }
});

function nobodyGroup(): { name: string; gid: number } {
  const line = readFileSync('/etc/group', 'utf8')
    .split('\n')
    .find((l) => /^(nogroup|nobody):/.test(l));
  if (!line) throw new Error('no nogroup/nobody group in /etc/group');
  const [name, , gid] = line.split(':');
  return { name, gid: Number(gid) };
}

test('--uid nobody --gid nogroup: master and workers run as nobody (the app and /proc say so)', async (t) => {
  const group = nobodyGroup();
  const { server, nginx } = await stack(t, { app: 'pm-whoami.mjs', args: ['--processes', '2', '--uid', 'nobody', '--gid', group.name] });
  t.regex(server.output(), new RegExp(`setuid/setgid done: now running as uid 65534 gid ${group.gid}`));
  const res = await get(nginx, '/');
  t.is(res.status, 200);
  const who = JSON.parse(res.body.toString()) as { pid: number; uid: number; gid: number; groups: number[] };
  t.is(who.uid, 65534);
  t.is(who.gid, group.gid);
  t.false(who.groups.includes(0), `no root group left: ${who.groups}`);
  t.true(spawnedWorkers(server.output()).some((w) => w.pid === who.pid));
  for (const pid of [server.pid, ...spawnedWorkers(server.output()).map((w) => w.pid)]) {
    t.is(procStatus(pid, 'Uid'), '65534 65534 65534 65534', `pid ${pid}`);
    t.is(procStatus(pid, 'Gid'), `${group.gid} ${group.gid} ${group.gid} ${group.gid}`, `pid ${pid}`);
  }
  t.notRegex(server.output(), /running nuwsgi as root/);
});

test('--umask 077 and --chown-socket nobody:nogroup (no chmod): the socket is 0700 and owned by nobody, so nginx (nobody) still connects', async (t) => {
  const group = nobodyGroup();
  const { server, nginx } = await stack(t, {
    app: 'life-app.mjs',
    chmodSocket: false,
    args: ['--umask', '077', '--chown-socket', `nobody:${group.name}`],
  });
  const st = statSync(server.socket);
  t.true(st.isSocket());
  t.is(st.mode & 0o777, 0o700);
  t.is(st.uid, 65534);
  t.is(st.gid, group.gid);
  const [worker] = spawnedWorkers(server.output());
  t.is(servedBy(await get(nginx, '/?n=1'), 1), worker.pid);
});

test('--umask 077 alone: the socket file is created 0700 (owner only)', async (t) => {
  const server = await startServer({ app: 'life-app.mjs', chmodSocket: false, args: ['--umask', '077'] });
  t.teardown(() => shutdown(server));
  t.is(statSync(server.socket).mode & 0o777, 0o700);
  t.is(statSync(server.socket).uid, 0);
});

test('--listen 100000 (above net.core.somaxconn): exit 1 with the somaxconn message', async (t) => {
  const dir = tempDir(t);
  const max = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim());
  const { code, output } = await runCli(['--socket', path.join(dir, 's.sock'), '--listen', '100000', LIFE_APP]);
  t.is(code, 1);
  t.true(output.includes(`Listen queue size 100000 is greater than the system max net.core.somaxconn (${max})`), output);
  t.deepEqual(spawnedWorkers(output), []);
});

test('--die-on-term is accepted with its note; SIGTERM still stops gracefully (the slow request completes)', async (t) => {
  const { server, nginx } = await stack(t, { app: 'life-app.mjs', args: ['--die-on-term'] });
  t.regex(server.output(), /die-on-term: accepted for uWSGI compatibility; SIGTERM always stops nuwsgi gracefully/);
  const slow = get(nginx, '/slow?ms=1000&n=term');
  await server.waitFor(/life-app: slow request term started/);
  process.kill(server.pid, 'SIGTERM');
  const res = await slow;
  t.notThrows(() => servedBy(res, 'term'));
  t.is(await server.exited, 0);
});
