// The CLI's configuration commands, through bin/nuwsgi.js: --show-config, --get, --check-config,
// --help, and how warnings and errors reach the terminal.

import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.join(ROOT, 'bin/nuwsgi.js');

function dir(files: Record<string, string>): string {
  const d = mkdtempSync(path.join(os.tmpdir(), 'nuwsgi-show-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(d, name), text);
  return d;
}

function nuwsgi(args: string[], cwd: string, env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8', timeout: 10_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const APP_INI = `[uwsgi]
base = %d
chdir = %(base)
wsgi-file = app.js
socket = %(base)a.sock
socket = 127.0.0.1:9000
processes = 2
processes = 4
master = True
chmod-socket
enable-threads = true
`;

test('--show-config prints the resolved configuration as INI, which reads back to the same', (t) => {
  const cwd = dir({ 'app.ini': APP_INI, 'app.js': 'export default () => {}' });
  const first = nuwsgi(['--show-config', 'app.ini'], cwd);
  t.is(first.status, 0, first.stderr);
  const block = (out: string) => out.split('\n[uwsgi]\n')[1].split('\n').filter((l) => l && !l.startsWith(';'));
  t.deepEqual(block(first.stdout), [`chdir = ${cwd}/`, 'app = app.js', `socket = ${cwd}/a.sock`, 'socket = 127.0.0.1:9000', 'processes = 4', 'master = true', 'chmod-socket = 666']);
  t.regex(first.stdout, /^; nuwsgi \S+ --show-config: the resolved configuration/);
  t.regex(first.stdout, /; deliberate differences from uWSGI:\n;   - a bare config-file argument is read where it appears/);
  t.regex(first.stdout, /;   base = \/.*\n/);
  t.regex(first.stdout, /; ignored \(uWSGI options nuwsgi does not implement\):\n;   enable-threads = true {2}\(app\.ini:11\)/);
  t.regex(first.stdout, /; defaults \(not set by any source\):\n(;.*\n)*;   listen = 1024\n/);
  t.regex(first.stderr, /nuwsgi: warning: app\.ini:11: enable-threads: an option of uWSGI that nuwsgi does not implement; ignored/);
  writeFileSync(path.join(cwd, 'resolved.ini'), first.stdout);
  const again = nuwsgi(['--show-config', 'resolved.ini'], cwd);
  t.deepEqual(block(again.stdout), block(first.stdout));
});

test('--get prints effective values: the last of a scalar, every value of a list, defaults, placeholders', (t) => {
  const cwd = dir({ 'app.ini': APP_INI });
  const cases: [string, string][] = [
    ['processes', '4\n'],
    ['socket', `${cwd}/a.sock\n127.0.0.1:9000\n`],
    ['chmod-socket', '666\n'],
    ['listen', '1024\n'],
    ['master', 'true\n'],
    ['base', `${cwd}/\n`],
    ['enable-threads', 'true\n'],
    ['pidfile', ''],
  ];
  for (const [name, out] of cases) {
    const r = nuwsgi(['app.ini', '--get', name], cwd);
    t.is(r.stdout, out, name);
    t.is(r.status, 0, name);
  }
  const two = nuwsgi(['app.ini', '--get', 'processes', '--get', 'wsgi-file'], cwd);
  t.is(two.stdout, '4\napp.js\n');
  const unknown = nuwsgi(['app.ini', '--get', 'nonsense'], cwd);
  t.is(unknown.status, 1);
  t.regex(unknown.stderr, /nuwsgi: --get nonsense: no such option or placeholder/);
});

test('--check-config exits 0 for a runnable configuration, 1 with every error otherwise', (t) => {
  const cwd = dir({ 'app.ini': APP_INI, 'app.js': '', 'bad.ini': '[uwsgi]\nsocket = /a\nproceses = 2\nharakiri = soon\napp = app.js\n' });
  const ok = nuwsgi(['--check-config', 'app.ini'], cwd);
  t.is(ok.status, 0, ok.stderr);
  t.is(ok.stdout, 'nuwsgi: configuration OK (1 warnings)\n');
  const bad = nuwsgi(['--check-config', 'bad.ini'], cwd);
  t.is(bad.status, 1);
  t.is(bad.stderr, 'nuwsgi: bad.ini:4: harakiri takes seconds, not "soon"\nnuwsgi: bad.ini:3: unknown option "proceses" (did you mean processes?)\n');
  const noApp = nuwsgi(['--check-config', '-s', '/a', 'missing.js'], cwd);
  t.is(noApp.status, 1);
  t.regex(noApp.stderr, /nuwsgi: app missing\.js: no such file/);
  const noSocket = nuwsgi(['--check-config', 'app.js'], cwd);
  t.regex(noSocket.stderr, /no socket to serve on/);
});

test('--help and --version answer even when the configuration is broken', (t) => {
  const cwd = dir({ 'bad.ini': '[uwsgi]\nbogus = 1\n' });
  const help = nuwsgi(['bad.ini', '--help'], cwd);
  t.is(help.status, 0);
  for (const name of ['--ini', '--xml', '--json', '--strict', '--show-config', '--get', '--check-config', '--set-placeholder', '--if-env']) t.true(help.stdout.includes(name), name);
  t.regex(nuwsgi(['bad.ini', '--version'], cwd).stdout, /^nuwsgi \d+\.\d+\.\d+\n$/);
});

test('errors from the environment and the command line say where they came from', (t) => {
  const cwd = dir({});
  const env = nuwsgi(['--show-config'], cwd, { UWSGI_PROCESSSES: '2' });
  t.is(env.status, 1);
  t.is(env.stderr, 'nuwsgi: environment UWSGI_PROCESSSES: unknown option "processses" (did you mean processes?)\n');
  const cli = nuwsgi(['--processes', 'many'], cwd);
  t.is(cli.stderr, 'nuwsgi: command line: --processes takes a whole number, not "many"\n');
});
