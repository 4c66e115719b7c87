// nuwsgi's output into a pipe whose reader stalls (docker's log driver, `| tee`, journald over a
// pipe): nothing is dropped. Since Node 22 the master's stderr descriptor is non-blocking, and a
// synchronous write into the full pipe failed with EAGAIN (Node 22/24/26 kept 13-16 of 2000 app
// lines). Here the reader waits on a gate (a FIFO the test writes) while 2000 chatty requests are
// served and the server is stopped with SIGTERM; once the gate opens every line must arrive whole.

import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { freePort } from './helpers/nginx.js';
import { tempDir } from './helpers/lifecycle.js';
import { BIN, FIXTURE_APPS } from './helpers/server.js';

const N = 2000;

function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

function get(agent: http.Agent, port: number, pathAndQuery: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: pathAndQuery, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
  });
}

test('a stalled pipe reader loses no line: 2000 chatty requests and a SIGTERM while it is stalled', async (t) => {
  const dir = tempDir(t);
  const gate = path.join(dir, 'gate');
  const out = path.join(dir, 'out.log');
  const pidfile = path.join(dir, 'master.pid');
  const port = await freePort();
  const args = [BIN, '--http-socket', `127.0.0.1:${port}`, '--processes', '4', '--pidfile', pidfile, '--app', path.join(FIXTURE_APPS, 'obs-app.mjs')];
  const quoted = args.map((a) => `'${a}'`).join(' ');
  // The reader reads nothing until the gate opens; the pipe (64 KiB) is full long before that.
  const shell = spawn('sh', ['-c', `mkfifo '${gate}' && '${process.execPath}' ${quoted} 2>&1 | { cat '${gate}' >/dev/null; exec cat > '${out}'; }`], {
    detached: true,
    stdio: 'ignore',
  });
  const ended = new Promise<number | null>((resolve) => shell.on('exit', resolve));
  t.teardown(() => {
    try {
      process.kill(-shell.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  });
  const deadline = Date.now() + 30_000;
  while (!(await connects(port))) if (Date.now() > deadline) throw new Error('the server never listened');

  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  t.teardown(() => agent.destroy());
  const statuses: number[] = [];
  let next = 0;
  const pad = 'q'.repeat(1500);
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      for (let i = next++; i < N; i = next++) statuses.push(await get(agent, port, `/chatty?id=${i}&log=${1000 + ((i * 7919) % 3000)}&pad=${pad}`));
    }),
  );
  t.is(statuses.filter((s) => s === 200).length, N, 'every request answered 200 while the log reader is stalled');
  agent.destroy();

  const masterPid = Number(readFileSync(pidfile, 'utf8'));
  process.kill(masterPid, 'SIGTERM');
  writeFileSync(gate, 'open\n');
  t.is(await ended, 0, 'the pipeline ends once the master has written everything and exited');

  const text = existsSync(out) ? readFileSync(out, 'latin1') : '';
  const lines = text.split('\n');
  t.is(lines.pop(), '', 'the output ends with a whole line');
  const app = new Set<number>();
  const requests = new Set<number>();
  const bad: string[] = [];
  for (const line of lines) {
    const a = /^APP (\d+) (\d+) (\d)+ END$/.exec(line);
    if (a) {
      if (line.length !== Number(a[2])) bad.push(line);
      app.add(Number(a[1]));
    } else if (line.startsWith('[pid: ')) {
      const r = /GET \/chatty\?id=(\d+)&log=\d+&pad=q+ => generated 2 bytes/.exec(line);
      if (r) requests.add(Number(r[1]));
      else bad.push(line);
    } else if (/APP |pad=/.test(line)) bad.push(line);
  }
  t.deepEqual(bad.map((l) => l.slice(0, 160)), [], 'no broken or interleaved line');
  t.is(app.size, N, 'every app line arrived');
  t.is(requests.size, N, 'every request line arrived');
  t.regex(text, /goodbye to nuwsgi\.\n$/, "the master's last line is there too");
});
