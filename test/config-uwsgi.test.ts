// nuwsgi's --show-config against the real uWSGI's, for configurations written for uWSGI.
//
// uWSGI prints its assembled option list with --show-config and keeps starting; a trailing
// `--exec-pre-jail false` makes it exit right after printing, before binding anything. From that
// list the effective value of every option both servers support is computed the way uWSGI applies
// it (the last value of a scalar, every value of a list), and compared with what nuwsgi resolves.
// Needs `uwsgi` (Debian: uwsgi-core); when CI is set a missing uwsgi fails the test.

import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, realpathSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { findOption } from '../src/config/options.js';
import { formatValue } from '../src/config/values.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.join(ROOT, 'bin/nuwsgi.js');
const FIXTURES = path.join(ROOT, 'fixtures/configs');

const HAVE_UWSGI = spawnSync('uwsgi', ['--version'], { encoding: 'utf8' }).status === 0;
const run = HAVE_UWSGI || process.env.CI ? test : test.skip;

/** Keys that steer loading or output: compared through their effect, not their own lines. */
const META = new Set(['ini', 'xml', 'json', 'include', 'inherit', 'set', 'set-placeholder', 'show-config', 'strict', 'for', 'for-times', 'for-glob', 'for-readline', 'endfor', 'endif', 'if-env', 'if-not-env', 'if-exists', 'if-not-exists', 'if-file', 'if-not-file', 'if-dir', 'if-not-dir', 'if-opt', 'if-not-opt']);

/** uWSGI's list -> { option: effective values }, applied as uwsgi_configure would. */
function effective(list: [string, string][]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [key, value] of list) {
    const spec = findOption(key);
    if (!spec || META.has(spec.name)) continue;
    const v = formatValue(spec, value === '' && spec.implicit ? spec.implicit : value);
    out[spec.name] = spec.repeatable ? [...(out[spec.name] ?? []), v] : [v];
  }
  return out;
}

function uwsgiShowConfig(args: string[], cwd: string, env: NodeJS.ProcessEnv): Record<string, string[]> {
  const r = spawnSync('uwsgi', ['--show-config', ...args, '--exec-pre-jail', 'false'], { cwd, env, encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = r.stdout + r.stderr;
  const block = /;uWSGI instance configuration\n\[uwsgi\]\n([\s\S]*?);end of configuration/.exec(out);
  if (!block) throw new Error(`uwsgi printed no configuration (status ${r.status}):\n${out}`);
  const list = block[1]
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const eq = line.indexOf(' = ');
      return [line.slice(0, eq), line.slice(eq + 3)] as [string, string];
    });
  // uWSGI prints a flag given on the command line as "true" (its value is NULL).
  return effective(list);
}

function nuwsgiShowConfig(args: string[], cwd: string, env: NodeJS.ProcessEnv): Record<string, string[]> {
  const r = spawnSync(process.execPath, [BIN, '--show-config', ...args], { cwd, env, encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new Error(`nuwsgi --show-config failed (${r.status}):\n${r.stderr}`);
  const body = r.stdout.split('\n[uwsgi]\n')[1];
  const list = body
    .split('\n')
    .filter((l) => l && !l.startsWith(';'))
    .map((line) => {
      const eq = line.indexOf(' = ');
      return [line.slice(0, eq), line.slice(eq + 3)] as [string, string];
    });
  return effective(list);
}

interface Case {
  name: string;
  files?: Record<string, string>;
  args: string[];
  env?: Record<string, string>;
}

const CASES: Case[] = [
  { name: "the book's uwsgi.ini", args: ['--ini', path.join(FIXTURES, 'book.ini')], env: { NUWSGI_TEST_DIR: '/run/app' } },
  { name: 'the book as XML', args: ['--xml', path.join(FIXTURES, 'book.xml')], env: { NUWSGI_TEST_DIR: '/run/app' } },
  { name: 'the book as JSON', args: ['--json', path.join(FIXTURES, 'book.json')], env: { NUWSGI_TEST_DIR: '/run/app' } },
  { name: 'a Django-style uwsgi.ini (placeholders, python options)', args: ['--ini', path.join(FIXTURES, 'django-style.ini')], env: { PATH: '/usr/local/bin:/usr/bin:/bin' } },
  { name: 'XML stanzas by id', args: ['--xml', `${path.join(FIXTURES, 'stanzas.xml')}:production`] },
  { name: 'XML: the first stanza by default', args: ['--xml', path.join(FIXTURES, 'stanzas.xml')] },
  {
    name: 'INI quirks: inline ; kept, quotes kept, bare keys, CRLF, repeated keys, other sections',
    files: { 'q.ini': '[uwsgi]\r\nchdir = /srv ; not a comment\r\npidfile = "/run/q.pid"\r\nvacuum\r\nmaster =\r\nsocket = /run/a.sock\r\nsocket = /run/b.sock\r\n[other]\r\nprocesses = 9\r\n' },
    args: ['--ini', 'q.ini'],
  },
  {
    name: 'sections: file:section and ini = :section',
    files: { 's.ini': '[uwsgi]\nprocesses = 1\nini = :extra\n[extra]\nharakiri = 9\nlisten = 50\n[prod]\nprocesses = 5\n' },
    args: ['--ini', 's.ini', '--ini', 's.ini:prod'],
  },
  {
    name: 'precedence: environment, then the command line in order',
    files: { 'p.ini': '[uwsgi]\nprocesses = 3\nmax-requests = 7\n' },
    args: ['--processes', '2', '--ini', 'p.ini', '--max-requests', '9', '--harakiri', '5'],
    env: { UWSGI_PROCESSES: '4', UWSGI_HARAKIRI: '60', UWSGI_LISTEN: '99' },
  },
  {
    name: 'placeholders: first occurrence, defined later, math, env and files',
    files: {
      'x.ini': '[uwsgi]\nchdir = %(base)/%(name)\nbase = /srv\nbase = /ignored\nname = web\nworkers = %(cores * 2 + 1)\ncores = 3\nenv = HOME_DIR=$(HOME)\nenv = UNSET=$(NUWSGI_SURELY_UNSET)\npidfile = /run/@(pid.txt).pid\nsocket = /run/%(name)-%(workers).sock\nharakiri = %(base_t)0\nbase_t = 3\n',
      'pid.txt': 'from-file\n',
    },
    args: ['--ini', 'x.ini'],
    env: { HOME: '/home/someone' },
  },
  {
    name: 'magic variables and includes',
    files: {
      'conf/main.ini': '[uwsgi]\nchdir = %d\npidfile = %d%n.pid\nsocket = /run/%c-%n.sock\ninclude = %dextra.ini\nini = %dextra.ini:more\n',
      'conf/extra.ini': '[uwsgi]\nsafe-pidfile = /run/%n-%x.pid\n[more]\ntouch-reload = %p\ntouch-reload = /run/%x.touch\n',
    },
    args: ['--ini', 'conf/main.ini'],
  },
  {
    name: 'JSON: arrays, true/false/null, numbers, another object',
    files: { 'c.json': '{"uwsgi": {"socket": ["/run/a.sock", "/run/b.sock"], "master": true, "vacuum": false, "harakiri-verbose": null, "harakiri": 30, "env": ["A=1"]}, "two": {"processes": 6, "listen": 77}}' },
    args: ['--json', 'c.json', '--json', 'c.json:two'],
  },
  {
    name: 'XML: entities, untrimmed text, empty elements, attributes ignored',
    files: { 'c.xml': '<?xml version="1.0"?>\n<!-- c -->\n<uwsgi>\n  <env>A=&amp;b</env>\n  <chdir>  /srv  </chdir>\n  <vacuum/>\n  <master></master>\n  <harakiri value="99">12</harakiri>\n</uwsgi>\n' },
    args: ['--xml', 'c.xml'],
  },
  {
    name: 'config logic: for, for-times, if-env, if-not-env, if-exists, if-opt',
    files: {
      'l.ini': '[uwsgi]\nfor = a b\nsocket = /run/%(_).sock\nendfor =\nfor-times = 2\nenv = N%(_)=%(_)\nendfor =\nif-env = PORT\nhttp-socket = :%(_)\nendif =\nif-env = NUWSGI_SURELY_UNSET\nprocesses = 9\nendif =\nif-not-env = NUWSGI_SURELY_UNSET\nlisten = 12\nendif =\nif-exists = l.ini\nchdir = %(_)\nendif =\nif-opt = listen=12\nharakiri = %(_)\nendif =\n',
    },
    args: ['--ini', 'l.ini'],
    env: { PORT: '8080' },
  },
  {
    name: 'set, set-placeholder and UWSGI_INI',
    files: { 'e.ini': '[uwsgi]\nset-placeholder = svc=api\nsocket = /run/%(svc).sock\nset = processes=3\n' },
    args: ['--set', 'listen=33', '--set-ph', 'where=/srv', '--chdir', '%(where)'],
    env: { UWSGI_INI: 'e.ini' },
  },
  {
    name: 'inherit: the template goes last, unexpanded',
    files: { 'base.ini': '[uwsgi]\nprocesses = 9\nchdir = %(where)\n', 'child.ini': '[uwsgi]\nprocesses = 2\ninherit = base.ini\nwhere = /srv\npidfile = %(where)/pid\n' },
    args: ['--ini', 'child.ini'],
  },
];

function workdir(files: Record<string, string> = {}): string {
  const d = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'nuwsgi-vs-uwsgi-')));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(d, name)), { recursive: true });
    writeFileSync(path.join(d, name), text);
  }
  return d;
}

run('nuwsgi resolves uWSGI configurations as uWSGI 2.0 does (--show-config of both)', (t) => {
  if (!HAVE_UWSGI) return t.fail('uwsgi is not installed: apt-get install uwsgi-core (.ci/run installs it)');
  for (const c of CASES) {
    const cwd = workdir(c.files);
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', ...c.env };
    const theirs = uwsgiShowConfig(c.args, cwd, env);
    const ours = nuwsgiShowConfig(c.args, cwd, env);
    t.true(Object.keys(theirs).length >= 2, `${c.name}: uWSGI resolved something`);
    t.deepEqual(ours, theirs, c.name);
  }
});

run('the deliberate difference: a bare config file is read in place, not after every dashed option', (t) => {
  if (!HAVE_UWSGI) return t.fail('uwsgi is not installed: apt-get install uwsgi-core (.ci/run installs it)');
  const cwd = workdir({ 'p.ini': '[uwsgi]\nprocesses = 3\n' });
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  t.deepEqual(uwsgiShowConfig(['p.ini', '--processes', '2'], cwd, env).processes, ['3']);
  t.deepEqual(nuwsgiShowConfig(['p.ini', '--processes', '2'], cwd, env).processes, ['2']);
});
