// Faults, each with its defined outcome and no other request lost:
// - the client (so nginx) goes away mid-request, mid-response, during a long poll, during a
//   64 MiB download: the app is told ('aborted' / res 'close'), the worker's memory does not
//   grow, the worker goes on serving;
// - a worker SIGKILLed under load: only requests it held fail, it is respawned;
// - the master SIGKILLed: its workers finish what they hold (bounded by worker-reload-mercy) and
//   exit; no process of the server is left (checked in /proc);
// - the log on a full disk (/dev/full): lines are dropped, requests are not;
// - the socket file deleted while running: the master re-creates it and nginx is served again.
// nginx runs with request buffering off and no temp file for responses, so the backend sees the
// client's pace in both directions (as a streaming deployment would).

import test from 'ava';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { spawnedWorkers, stack } from './helpers/lifecycle.js';
import { httpRequest, startNginx } from './helpers/nginx.js';
import { alive, rss, sleep, until } from './helpers/hardening.js';
import { startServer } from './helpers/server.js';

const STREAMING = 'uwsgi_request_buffering off; uwsgi_max_temp_file_size 0;';

/** Start a request and abort it once `ready` says so (or at once), returning the bytes read. */
function abortingRequest(url: string, opts: { method?: string; contentLength?: number; send?: number; readBytes?: number; afterLine?: () => boolean }): Promise<number> {
  return new Promise((resolve, reject) => {
    let received = 0;
    const req = http.request(url, { method: opts.method ?? 'GET', agent: false, headers: opts.contentLength ? { 'Content-Length': String(opts.contentLength) } : {} }, (res) => {
      res.on('data', (c: Buffer) => {
        received += c.length;
        if (received >= (opts.readBytes ?? 1)) {
          req.destroy();
          resolve(received);
        }
      });
      res.on('error', () => {});
      res.on('end', () => reject(new Error(`the response ended normally after ${received} bytes: nothing was aborted`)));
    });
    req.on('error', () => {});
    if (opts.send) req.write(Buffer.alloc(opts.send, 0x62));
    // A declared body is left unfinished on purpose; anything else is sent whole.
    if (!opts.contentLength) req.end();
    if (opts.afterLine) {
      const deadline = Date.now() + 15_000;
      const poll = setInterval(() => {
        if (opts.afterLine!()) {
          clearInterval(poll);
          req.destroy();
          resolve(received);
        } else if (Date.now() > deadline) {
          clearInterval(poll);
          req.destroy();
          reject(new Error(`${url}: the request never reached the app`));
        }
      }, 20);
    }
  });
}

test.serial('client gone mid-request, mid-response, during a long poll and a 64 MiB download: the app is told, memory flat, nothing else lost', async (t) => {
  const { server, nginx } = await stack(t, { app: 'hard-app.mjs', args: ['--processes', '1', '--disable-logging'], });
  // stack() uses the default location; this file wants the streaming one.
  await nginx.stop();
  const front = await startNginx({ upstream: server.upstream, locationExtra: STREAMING });
  t.teardown(() => front.stop());
  const [worker] = spawnedWorkers(server.output());
  const seen = (pattern: RegExp) => () => pattern.test(server.output());

  // Mid-request: 200 KiB of a declared 1 MiB body, then the client leaves.
  await abortingRequest(`${front.baseUrl}/slow?ms=2000&n=midreq`, { method: 'POST', contentLength: 1 << 20, send: 200 * 1024, afterLine: seen(/hard-app: start n=midreq/) });
  await server.waitFor(/POST \/slow\?ms=2000&n=midreq: the peer closed the connection with \d+ body bytes missing -- request aborted/);
  await server.waitFor(/hard-app: aborted n=midreq after \d+ body bytes/);

  // Mid-response: 1 KiB every 20 ms; the client leaves after the first bytes.
  await abortingRequest(`${front.baseUrl}/trickle?ms=20&count=1000&n=midresp`, { readBytes: 1 });
  await server.waitFor(/hard-app: res closed early n=midresp after \d+ bytes/);

  // Long poll: no byte of response yet when the client leaves.
  await abortingRequest(`${front.baseUrl}/hang?n=poll`, { afterLine: seen(/hard-app: hang n=poll/) });
  await server.waitFor(/hard-app: res closed early n=poll after 0 bytes/);

  // 64 MiB downloads aborted after 1 MiB, five times: the worker does not keep the rest.
  const before = rss(worker.pid)!;
  const samples: number[] = [];
  for (let i = 0; i < 5; i++) {
    await abortingRequest(`${front.baseUrl}/big?blocks=1024&n=big${i}`, { readBytes: 1 << 20 });
    await server.waitFor(new RegExp(`hard-app: res closed early n=big${i} after (\\d+) bytes`));
    samples.push(rss(worker.pid)!);
  }
  const sent = [...server.output().matchAll(/res closed early n=big\d after (\d+) bytes/g)].map((m) => Number(m[1]));
  t.log(`worker RSS before ${(before / 2 ** 20).toFixed(1)} MiB, after each abort ${samples.map((s) => (s / 2 ** 20).toFixed(1)).join(' ')} MiB; app had produced ${sent.map((s) => (s / 2 ** 20).toFixed(1)).join(' ')} MiB of 64`);
  t.true(sent.every((s) => s < 64 * 2 ** 20), 'each download stopped early (back-pressure reached the app)');
  t.true(Math.max(...samples) - before < 48 * 2 ** 20, 'the worker did not keep the undelivered downloads');

  // Everything else still served, by the same worker.
  for (let n = 0; n < 5; n++) {
    const res = await httpRequest({ method: 'GET', url: `${front.baseUrl}/?n=${n}`, timeoutMs: 15_000 });
    t.is(res.body.toString(), `n=${n} pid=${worker.pid}`);
  }
  t.deepEqual(spawnedWorkers(server.output()).map((w) => w.pid), [worker.pid]);
  t.notRegex(server.output(), /DAMN|uncaught exception|unhandled promise rejection|internal error/);
});

test.serial('a worker SIGKILLed under load: only requests it held fail, the other worker and the respawn serve the rest', async (t) => {
  const { server, nginx } = await stack(t, { app: 'hard-app.mjs', args: ['--processes', '2', '--disable-logging'] });
  const [victim, survivor] = spawnedWorkers(server.output());
  const CONCURRENCY = 12;
  const TOTAL = 900;
  const failed: { n: number; why: string }[] = [];
  let next = 0;
  let done = 0;
  let killed = false;
  const client = async () => {
    while (next < TOTAL) {
      const n = next++;
      if (!killed && n >= 150) {
        killed = true;
        process.kill(victim.pid, 'SIGKILL');
      }
      try {
        const res = await httpRequest({ method: 'GET', url: `${nginx.baseUrl}/slow?ms=20&n=${n}`, timeoutMs: 20_000 });
        if (res.status !== 200 || !new RegExp(`^n=${n} pid=\\d+$`).test(res.body.toString())) failed.push({ n, why: `${res.status} ${res.body.toString().slice(0, 80)}` });
      } catch (error) {
        failed.push({ n, why: String(error) });
      }
      done++;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, client));
  const log = server.output();
  t.is(done, TOTAL);
  await server.waitFor(new RegExp(`DAMN ! worker ${victim.id} \\(pid: ${victim.pid}\\) died, killed by signal SIGKILL`));
  // Every failure was held by the killed worker: started there and never finished, or accepted
  // there and not yet started (it never reached any app). None was started by another worker.
  for (const { n, why } of failed) {
    const started = [...log.matchAll(new RegExp(`hard-app: start n=${n} pid=(\\d+)`, 'g'))].map((m) => Number(m[1]));
    t.false(new RegExp(`hard-app: end n=${n} pid=`).test(log), `failed request ${n} (${why}) had finished in the app`);
    t.true(started.every((pid) => pid === victim.pid), `failed request ${n} (${why}) was started by ${started}`);
  }
  t.true(failed.length <= CONCURRENCY, `${failed.length} failures for ${CONCURRENCY} requests in flight: ${JSON.stringify(failed.slice(0, 5))}`);
  t.log(`${failed.length} of ${TOTAL} requests failed, all held by the killed worker`);
  const respawned = spawnedWorkers(log).slice(2);
  t.is(respawned.length, 1);
  const servedBy = new Set([...log.matchAll(/hard-app: end n=(\d+) pid=(\d+)/g)].filter((m) => Number(m[1]) > 600).map((m) => Number(m[2])));
  t.true(servedBy.has(survivor.pid));
  t.false(servedBy.has(victim.pid));
});

/** Processes whose parent is one of `pids` (what would be left as orphans of a worker). */
function childrenOf(pids: number[]): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (pids.includes(ppid)) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

test.serial('the master SIGKILLed: its workers finish what they hold, the one that hangs is bounded by mercy, then none is left', async (t) => {
  const { server, nginx } = await stack(t, { app: 'hard-app.mjs', args: ['--processes', '2', '--worker-reload-mercy', '3', '--disable-logging'] });
  const workers = spawnedWorkers(server.output()).map((w) => w.pid);
  const slow = httpRequest({ method: 'GET', url: `${nginx.baseUrl}/slow?ms=1500&n=drain`, timeoutMs: 20_000 });
  const hang = httpRequest({ method: 'GET', url: `${nginx.baseUrl}/hang?n=stuck`, timeoutMs: 20_000 });
  await until(() => /hard-app: start n=drain/.test(server.output()) && /hard-app: hang n=stuck/.test(server.output()), 'both requests in the app');
  process.kill(server.pid, 'SIGKILL');
  await server.exited;
  const drained = await slow;
  t.is(drained.status, 200, 'the in-flight request finished after its master died');
  t.regex(drained.body.toString(), /^n=drain pid=\d+$/);
  const stuck = await hang;
  t.is(stuck.status, 502, 'the request that never ends is cut when mercy runs out');
  await until(() => workers.every((pid) => !alive(pid)), 'every worker to exit', 20_000);
  t.deepEqual(childrenOf(workers), [], 'no process left behind by a worker');
  t.deepEqual(childrenOf([server.pid]), [], 'no process left behind by the master');
  t.regex(server.output(), /1 requests still running after worker-reload-mercy \(3s\) -- exiting/);
});

test.serial('the log on a full disk (--logto /dev/full): lines are dropped with one complaint on stderr, requests are all served', async (t) => {
  const server = await startServer({ app: 'hard-app.mjs', args: ['--processes', '2', '--logto', '/dev/full'], waitReady: false });
  t.teardown(() => server.stop('SIGKILL'));
  const nginx = await startNginx({ upstream: server.upstream });
  t.teardown(() => nginx.stop());
  // No ready line to wait for (it went to the full disk): the socket answers when ready.
  const deadline = Date.now() + 20_000;
  let first;
  while (!(first = await httpRequest({ method: 'GET', url: `${nginx.baseUrl}/?n=first`, timeoutMs: 5_000 }).catch(() => undefined))?.status || first.status !== 200) {
    if (Date.now() > deadline) throw new Error(`never served; output:\n${server.output()}`);
    await sleep(200);
  }
  const results = await Promise.all(Array.from({ length: 100 }, (_, n) => httpRequest({ method: 'GET', url: `${nginx.baseUrl}/?n=${n}`, timeoutMs: 15_000 })));
  t.true(results.every((r, n) => r.status === 200 && r.body.toString().startsWith(`n=${n} pid=`)));
  const pids = new Set(results.map((r) => Number(/pid=(\d+)/.exec(r.body.toString())![1])));
  t.regex(server.output(), /cannot write to the log \/dev\/full \(ENOSPC\)/);
  t.is(server.output().match(/cannot write to the log/g)?.length, 1, 'one complaint, not one per line');
  t.true([...pids].every(alive));
  t.is(await server.stop('SIGTERM'), 0);
});

test('the socket file deleted while running: the master notices, logs it and re-creates it; nginx is served again', async (t) => {
  const { server, nginx } = await stack(t, { app: 'hard-app.mjs', args: ['--processes', '1'] });
  t.is((await httpRequest({ method: 'GET', url: `${nginx.baseUrl}/?n=before`, timeoutMs: 10_000 })).status, 200);
  rmSync(server.socket);
  await server.waitFor(/unix socket .*app\.sock.* (removed|deleted)/i, 5_000);
  await until(() => existsSync(server.socket), 'the socket file re-created', 5_000);
  const res = await httpRequest({ method: 'GET', url: `${nginx.baseUrl}/?n=after`, timeoutMs: 10_000 });
  t.is(res.status, 200);
});
