// App shapes that run unchanged: scripts that call listen() themselves, served through nginx,
// and the --http-socket path beside the uwsgi one.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { freePort, httpRequest, startNginx, type NginxInstance } from './helpers/nginx.js';
import { BIN, startServer, type ServerInstance } from './helpers/server.js';

async function serve(app: string, args: string[] = [], httpPort?: number): Promise<{ server: ServerInstance; nginx: NginxInstance }> {
  const server = await startServer({ app, args, httpPort });
  const nginx = await startNginx({ upstream: server.upstream });
  return { server, nginx };
}

test('a script that calls server.listen(3000) is served through its own server, never bound', async (t) => {
  const { server, nginx } = await serve('listen-script.mjs', ['-p', '2']);
  t.teardown(async () => {
    await nginx.stop();
    await server.stop();
  });
  const res = await httpRequest({ method: 'GET', url: `${nginx.baseUrl}/hello?x=1` });
  t.is(res.status, 200);
  const body = JSON.parse(res.body.toString());
  t.is(body.from, 'listen-script');
  t.is(body.url, '/hello?x=1');
  t.true(body.listening);
  t.is(body.address.port, 3000);
  // The listen callback ran (the app logged), and nothing is bound on port 3000.
  await server.waitFor(/listening on \{"address":"127\.0\.0\.1","family":"IPv4","port":3000\}/);
  t.regex(server.output(), /captured listen\(\)/);
  await t.throwsAsync(httpRequest({ method: 'GET', url: 'http://127.0.0.1:3000/', timeoutMs: 2000 }), { message: /ECONNREFUSED/ });
});

test('a CommonJS script that calls listen() after an async start-up step is waited for', async (t) => {
  const { server, nginx } = await serve('listen-late.cjs');
  t.teardown(async () => {
    await nginx.stop();
    await server.stop();
  });
  const res = await httpRequest({ method: 'POST', url: `${nginx.baseUrl}/late`, body: 'x' });
  t.is(res.status, 200);
  t.is(res.body.toString(), 'late POST /late');
});

test('--http-socket serves the same app over plain HTTP, beside the uwsgi socket', async (t) => {
  const port = await freePort();
  const { server, nginx } = await serve('listen-script.mjs', [], port);
  t.teardown(async () => {
    await nginx.stop();
    await server.stop();
  });
  const direct = await httpRequest({ method: 'GET', url: `http://127.0.0.1:${port}/direct` });
  t.is(direct.status, 200);
  t.is(JSON.parse(direct.body.toString()).url, '/direct');
  const viaNginx = await httpRequest({ method: 'GET', url: `${nginx.baseUrl}/via-nginx` });
  t.is(JSON.parse(viaNginx.body.toString()).url, '/via-nginx');
  t.regex(server.output(), new RegExp(`nuwsgi is ready: uwsgi://\\S+, http://127\\.0\\.0\\.1:${port}`));
});

test('workers start with glibc keeping 64 MiB of freed heap (MALLOC_TRIM_THRESHOLD_), unseen by the app; a value the user exports wins', async (t) => {
  for (const [env, atExec, seen] of [
    [{}, '67108864', null],
    [{ MALLOC_TRIM_THRESHOLD_: '131072' }, '131072', '131072'],
  ] as const) {
    const port = await freePort();
    const server = await startServer({ app: 'env-app.mjs', httpPort: port, env: { ...env } });
    t.teardown(() => server.stop());
    const res = await httpRequest({ method: 'GET', url: `http://127.0.0.1:${port}/` });
    const { pid, trim } = JSON.parse(res.body.toString());
    // What glibc read at exec: the worker's initial environment.
    const initial = readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0');
    t.true(initial.includes(`MALLOC_TRIM_THRESHOLD_=${atExec}`), `worker ${pid} started with ${initial.filter((e) => e.startsWith('MALLOC_')).join(' ') || 'no MALLOC_ variable'}`);
    t.is(trim, seen, "the app's process.env (and so its own child processes)");
  }
});

test('an app that exports nothing and never listens fails to load with exit 22 and says what to export', async (t) => {
  const server = await startServer({ app: 'empty-app.mjs', waitReady: false });
  t.is(await server.exited, 22);
  t.regex(server.output(), /exports no app and started no server/);
  await server.stop();
});

test('nuwsgi health speaks uwsgi: 0 when the server answers the ping, 1 when nothing does, 2 on bad usage', async (t) => {
  const server = await startServer({ app: 'echo.mjs' });
  t.teardown(() => server.stop());
  const run = (...args: string[]) => spawnSync(process.execPath, [BIN, 'health', ...args], { encoding: 'utf8', timeout: 15_000 });
  const ok = run('--socket', server.socket);
  t.is(ok.status, 0, ok.stderr);
  t.regex(ok.stdout, /pong/);
  const dead = run(`${server.socket}.missing`);
  t.is(dead.status, 1);
  t.regex(dead.stderr, /ENOENT/);
  t.is(run().status, 2);
});
