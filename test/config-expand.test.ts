// Expansion, rule by rule: magic variables (%d %n ...) while a file is read, then the passes over
// the whole list: $(ENV), @(file), %(option) with math; set/set-placeholder; config logic.
// Expected values follow uWSGI 2.0.21 as verified (reference/process-manager.md §1.3).

import test from 'ava';
import { mkdirSync, mkdtempSync, realpathSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { configure } from '../src/config/configure.js';
import { ConfigError } from '../src/config/errors.js';
import { VERSION } from '../src/version.js';

function dir(files: Record<string, string>): string {
  const d = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'nuwsgi-expand-')));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(d, name)), { recursive: true });
    writeFileSync(path.join(d, name), text);
  }
  return d;
}

/** The first value of each key (options, placeholders and ignored keys alike) after expansion. */
function expanded(files: Record<string, string>, argv: string[], env: NodeJS.ProcessEnv = {}) {
  const cwd = dir(files);
  const c = configure(['--no-strict', ...argv], { cwd, env });
  const first = (key: string) => c.entries.find((e) => e.key === key)?.value;
  return { cwd, first, c };
}

function error(files: Record<string, string>, argv: string[], env: NodeJS.ProcessEnv = {}): string {
  const e = (() => {
    try {
      configure(argv, { cwd: dir(files), env });
    } catch (err) {
      return err;
    }
  })();
  if (!(e instanceof ConfigError)) throw new Error(`expected a ConfigError, got ${e}`);
  return e.message;
}

// ---------------------------------------------------------------------------------------------
// Magic variables (core/uwsgi.c config_magic_table_fill)

test('magic variables describe the file they appear in', (t) => {
  const ini = '[uwsgi]\nd = %d\np = %p\ns = %s\nn = %n\ne = %e\nc = %c\nx = %x\no = %o\nparts = %0 %1\nh = %h\nk = %k\nu = %u %g\nv = %v\nV = %V\npct = 100%%\nesc = %[\nj = %j\n';
  const { cwd, first } = expanded({ 'sub/app.conf.ini': ini }, ['--ini', 'sub/app.conf.ini']);
  const parts = cwd.split('/').filter(Boolean);
  const cases: [string, string][] = [
    ['d', `${cwd}/sub/`], // trailing slash, as uWSGI's %d
    ['p', `${cwd}/sub/app.conf.ini`],
    ['s', 'app.conf.ini'],
    ['n', 'app.conf'],
    ['e', 'ini'],
    ['c', 'sub'],
    ['x', ''], // empty unless a section was asked for
    ['o', 'sub/app.conf.ini'],
    ['parts', `${parts[0]} ${parts[1]}`],
    ['h', os.hostname()],
    ['k', String(os.cpus().length)],
    ['u', `${process.getuid!()} ${process.getgid!()}`],
    ['v', cwd],
    ['V', VERSION],
    ['pct', '100%'],
    ['esc', '\x1b'],
  ];
  for (const [key, value] of cases) t.is(first(key), value, `%${key}`);
  t.regex(first('j')!, /^[0-9A-F]{8}$/);
});

test('magic: %x is the section asked for; %n without an extension is the name; upper case is the first file', (t) => {
  const files = { 'a.ini': '[uwsgi]\nini = other\n[s2]\nx = %x\n', other: '[uwsgi]\nn = %n\ne = [%e]\nfirst = %N %D\n' };
  const { cwd, first } = expanded(files, ['--ini', 'a.ini:s2', '--ini', 'other']);
  t.is(first('x'), 's2');
  t.is(first('n'), 'other');
  t.is(first('e'), '[]');
  t.is(first('first'), `a ${cwd}/`);
});

test('magic: an unknown %X is removed, as uWSGI does, with a warning naming the line', (t) => {
  const { first, c } = expanded({ 'a.ini': '[uwsgi]\n\na = x%zy\n' }, ['a.ini']);
  t.is(first('a'), 'xy');
  t.true(c.warnings.includes('a.ini:3: unknown magic variable "%z" removed, as uWSGI does (write %% for a percent sign)'));
});

test('magic variables work in XML and JSON too', (t) => {
  const { cwd, first } = expanded({ 'a.xml': '<uwsgi><d>%d</d><n>%n</n></uwsgi>', 'b.json': '{"uwsgi": {"s": "%s"}}' }, ['a.xml', 'b.json']);
  t.deepEqual([first('d'), first('n'), first('s')], [`${cwd}/`, 'a', 'b.json']);
});

// ---------------------------------------------------------------------------------------------
// $(ENV), @(file), %(option)

const PASS_CASES: { name: string; ini: string; env?: NodeJS.ProcessEnv; files?: Record<string, string>; expect: Record<string, string> }[] = [
  { name: '$(VAR) is the environment variable', ini: 'a = $(HOME)/x', env: { HOME: '/home/u' }, expect: { a: '/home/u/x' } },
  { name: 'an unset $(VAR) stays literally', ini: 'a = $(NOPE_UNSET)', expect: { a: '$(NOPE_UNSET)' } },
  { name: '@(file) is its content, one trailing newline dropped', ini: 'a = [@(v.txt)]', files: { 'v.txt': 'hello\n\n' }, expect: { a: '[hello\n]' } },
  { name: '%(name) is another option', ini: 'socket = :3031\na = %(socket)', expect: { a: ':3031' } },
  { name: '%(name) is the FIRST occurrence, even one defined later', ini: 'a = %(later)\nlater = L1\nlater = L2', expect: { a: 'L1' } },
  { name: 'an unknown %(name) stays literally', ini: 'a = %(nothing)', expect: { a: '%(nothing)' } },
  { name: 'a bare boolean referenced is empty', ini: 'master\na = [%(master)]', expect: { a: '[]' } },
  { name: 'passes run in order: $() results get %() expanded', ini: 'x = 4\na = $(REF)', env: { REF: '%(x)' }, expect: { a: '4' } },
  { name: 'but %() results do not get $() (the $ pass is over)', ini: 'x = $$(HOME)\na = %(x)', env: { HOME: '/h' }, expect: { a: '$/h' } },
  { name: 'a result is expanded again (nuwsgi: also at the start of the value)', ini: 'a = %(y)\ny = %(x)\nx = 4', expect: { a: '4' } },
  { name: 'math: a left-to-right pipeline', ini: 'x = 4\nc = %(x + 2 * 3)', expect: { c: '18' } },
  { name: 'math: adjacent operands concatenate', ini: 'p = 2\nq = 8\nc = %(p q + 2)', expect: { c: '30' } },
  { name: 'math: ++ and --, division truncates, division by zero is 0', ini: 'x = 7\na = %(x ++)\nb = %(x / 2)\nc = %(x / 0)\nd = %(x --)', expect: { a: '8', b: '3', c: '0', d: '6' } },
  { name: 'math: an unset operand is empty (0)', ini: 'c = %(nope + 5)', expect: { c: '5' } },
  { name: 'the same syntax in log-format is rewritten (uWSGI\'s collision trap)', ini: 'status = OOPS\nlog-format = %(status) %(unknownvar)', expect: { 'log-format': 'OOPS %(unknownvar)' } },
];

test('a log-format variable swallowed by a placeholder of the same name is warned about', (t) => {
  const { c } = expanded({ 'a.ini': '[uwsgi]\nstatus = OOPS\nlog-format = %(status) %(uri)\n' }, ['a.ini']);
  t.true(c.warnings.includes('a.ini:3: log-format: %(status) replaced at config time by the option or placeholder of that name (as uWSGI does); rename it to keep the log variable'));
});

for (const c of PASS_CASES) {
  test(`expansion: ${c.name}`, (t) => {
    const { first } = expanded({ 'a.ini': `[uwsgi]\n${c.ini}\n`, ...c.files }, ['a.ini'], c.env ?? {});
    for (const [key, value] of Object.entries(c.expect)) t.is(first(key), value, key);
  });
}

test('expansion reaches command-line and environment values too', (t) => {
  const c = configure(['--socket', '$(DIR)/a.sock', '--set', 'name=web', '--pidfile', '/run/%(name).pid'], { env: { DIR: '/run', UWSGI_CHDIR: '$(DIR)' } });
  t.deepEqual([c.raw.get('socket'), c.raw.get('pidfile'), c.raw.get('chdir')], [['/run/a.sock'], ['/run/web.pid'], ['/run']]);
});

test('@(file) is relative to the working directory, not to the config file', (t) => {
  const { first } = expanded({ 'conf/a.ini': '[uwsgi]\na = @(v.txt)\n', 'v.txt': 'top', 'conf/v.txt': 'nested' }, ['conf/a.ini']);
  t.is(first('a'), 'top');
});

test('expansion errors: @() of a missing file, cycles through @(), %() and $()', (t) => {
  t.regex(error({ 'a.ini': '[uwsgi]\nchdir = @(missing.txt)\n' }, ['a.ini']), /^a\.ini:2: chdir: cannot read @\(missing\.txt\): ENOENT/);
  t.is(error({ 'a.ini': '[uwsgi]\nchdir = x@(one.txt)\n', 'one.txt': 'y@(two.txt)', 'two.txt': '@(one.txt)' }, ['a.ini']), 'a.ini:2: chdir: cycle: @(one.txt) -> @(two.txt) -> @(one.txt)');
  t.is(error({ 'a.ini': '[uwsgi]\nchdir = %(a)\na = x%(b)\nb = %(a)\n' }, ['--no-strict', 'a.ini']), 'a.ini:2: chdir: cycle: %(a) -> %(b) -> %(a)');
  t.is(error({}, ['--chdir', '$(LOOP)'], { LOOP: '/x/$(LOOP)' }), 'command line: chdir: cycle: $(LOOP) -> $(LOOP)');
  t.regex(error({ 'a.ini': '[uwsgi]\nchdir = @(exec://ls)\n' }, ['a.ini']), /plain files only, not uWSGI's exec:\/\/ scheme/);
});

test('config-file paths are not expanded by the passes (as uWSGI); the error says so', (t) => {
  const message = error({ 'a.ini': '[uwsgi]\nbase = /x\nini = %(base)/b.ini\n' }, ['a.ini']);
  t.regex(message, /^a\.ini:3: cannot read config file %\(base\)\/b\.ini: ENOENT \(\$\(\), @\(\) and %\(\) are not expanded in config file paths/);
  // Magic variables are: they are substituted while the file is read.
  const { first } = expanded({ 'a.ini': '[uwsgi]\nini = %db.ini\n', 'b.ini': '[uwsgi]\nfrom = b\n' }, ['a.ini']);
  t.is(first('from'), 'b');
});

// ---------------------------------------------------------------------------------------------
// set, set-placeholder

test('set-placeholder declares a placeholder (allowed under strict), its value unexpanded', (t) => {
  const c = configure(['--set-placeholder', 'who=$(USER)', '--set-ph', 'dir=/srv', '--chdir', '%(dir)/%(who)'], { env: { USER: 'bob' } });
  t.deepEqual(c.raw.get('chdir'), ['/srv/$(USER)']);
  t.deepEqual([...c.placeholders], [['who', '$(USER)'], ['dir', '/srv']]);
  t.regex(error({}, ['--set-placeholder', 'processes=3']), /processes cannot be a placeholder: it is an option/);
  t.regex(error({}, ['--set-placeholder', 'novalue']), /set-placeholder takes NAME=VALUE/);
});

test('set sets an option, or a placeholder when the name is not an option', (t) => {
  const c = configure(['--set', 'processes=4', '-S', 'zed=%(processes)', '--pidfile', '/run/%(zed).pid'], { env: {} });
  t.deepEqual([c.raw.get('processes'), c.raw.get('pidfile')], [['4'], ['/run/4.pid']]);
});

test('strict: an unreferenced custom key is unknown; a referenced one is a placeholder', (t) => {
  t.notThrows(() => configure(['--ini', path.join(dir({ 'a.ini': '[uwsgi]\nbase = /srv\nchdir = %(base)\n' }), 'a.ini')], { env: {} }));
  t.regex(error({ 'a.ini': '[uwsgi]\nbase = /srv\nchdir = /srv\n' }, ['a.ini']), /^a\.ini:2: unknown option "base"$/);
});

// ---------------------------------------------------------------------------------------------
// Config logic (core/config.c uwsgi_logic_opt_*)

const LOGIC_CASES: { name: string; ini: string; env?: NodeJS.ProcessEnv; files?: Record<string, string>; expect: Record<string, string[] | undefined> }[] = [
  { name: 'for repeats each line per item', ini: 'for = a b c\nsocket = /run/%(_).sock\nendfor =', expect: { socket: ['/run/a.sock', '/run/b.sock', '/run/c.sock'] } },
  { name: 'for-times counts from 1', ini: 'for-times = 2\nenv = N%(_)=%(_)\nendfor', expect: { env: ['N1=1', 'N2=2'] } },
  { name: 'for-readline reads lines', ini: 'for-readline = list.txt\nenv = %(_)\nend-for', files: { 'list.txt': 'A=1\nB=2\n' }, expect: { env: ['A=1', 'B=2'] } },
  { name: 'for-glob matches files', ini: 'for-glob = t*.flag\ntouch-reload = %(_)\nendfor', files: { 't1.flag': '', 't2.flag': '', 'x.flag': '' }, expect: { 'touch-reload': ['t1.flag', 't2.flag'] } },
  { name: 'if-env keeps lines when set; %(_) is its value', ini: 'if-env = PORT\nsocket = :%(_)\nendif\nif-env = NOPE\nprocesses = 9\nendif', env: { PORT: '3031' }, expect: { socket: [':3031'], processes: undefined } },
  { name: 'if-env VAR=VALUE compares', ini: 'if-env = MODE=prod\nprocesses = 8\nelse =\nprocesses = 1\nendif', env: { MODE: 'dev' }, expect: { processes: ['1'] } },
  { name: 'if-not-env', ini: 'if-not-env = NOPE\nprocesses = 2\nendif', expect: { processes: ['2'] } },
  { name: 'if-exists / if-file / if-dir', ini: 'if-exists = here.txt\nchdir = %(_)\nendif\nif-dir = here.txt\nprocesses = 9\nendif\nif-not-file = gone\nlisten = 7\nendif', files: { 'here.txt': '' }, expect: { chdir: ['here.txt'], processes: undefined, listen: ['7'] } },
  { name: 'if-opt sees options read before it', ini: 'processes = 3\nif-opt = processes=3\nharakiri = %(_)\nendif\nif-not-opt = listen\nlisten = 5\nendif', expect: { harakiri: ['3'], listen: ['5'] } },
  { name: 'if-reload is never true here; if-not-reload always', ini: 'if-reload =\nprocesses = 9\nendif\nif-not-reload =\nlisten = 4\nendif', expect: { processes: undefined, listen: ['4'] } },
];

for (const c of LOGIC_CASES) {
  test(`config logic: ${c.name}`, (t) => {
    const cwd = dir({ 'a.ini': `[uwsgi]\n${c.ini}\n`, ...c.files });
    const { raw } = configure(['a.ini'], { cwd, env: c.env ?? {} });
    t.deepEqual(Object.fromEntries(Object.keys(c.expect).map((k) => [k, raw.get(k)])), c.expect);
  });
}

test('config logic errors: blocks do not nest; a missing for-readline file', (t) => {
  t.regex(error({ 'a.ini': '[uwsgi]\nfor = a b\nif-env = X\nendfor\n' }, ['a.ini']), /^a\.ini:3: if-env inside for: config logic blocks do not nest/);
  t.regex(error({ 'a.ini': '[uwsgi]\nfor-readline = none.txt\nenv = %(_)\n' }, ['a.ini']), /^a\.ini:2: for-readline none\.txt: ENOENT/);
});
