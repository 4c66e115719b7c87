// Configuration sources, format by format (INI, XML, JSON, environment, command line), with
// uWSGI's semantics from reference/process-manager.md §1 (verified against uWSGI 2.0.21).

import test from 'ava';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveConfig } from '../src/config/config.js';
import { configure } from '../src/config/configure.js';
import { ConfigError } from '../src/config/errors.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const FIXTURES = path.join(ROOT, 'fixtures/configs');

/** A fresh directory holding `files`; configure() runs with it as cwd and `env` as environment. */
function dir(files: Record<string, string>): string {
  const d = mkdtempSync(path.join(os.tmpdir(), 'nuwsgi-config-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(d, name), text);
  return d;
}

function load(files: Record<string, string>, argv: string[], env: NodeJS.ProcessEnv = {}) {
  return configure(argv, { cwd: dir(files), env });
}

/** Effective raw values of a few options, for compact assertions. */
function values(files: Record<string, string>, argv: string[], names: string[], env: NodeJS.ProcessEnv = {}) {
  const { raw } = load(files, argv, env);
  return Object.fromEntries(names.map((n) => [n, raw.get(n)]));
}

const fails = (files: Record<string, string>, argv: string[], env: NodeJS.ProcessEnv = {}) => {
  try {
    load(files, argv, env);
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error('expected a ConfigError');
};

// ---------------------------------------------------------------------------------------------
// One configuration, five sources.

test('the same configuration as INI, XML, JSON, command line and environment resolves identically', (t) => {
  const ini = `[uwsgi]
socket = /run/a.sock
socket = 127.0.0.1:9000
processes = 3
master = true
vacuum = true
chmod-socket = 660
harakiri = 30
env = A=1
env = B=2
app = app.js
`;
  const xml = `<uwsgi>
  <socket>/run/a.sock</socket>
  <socket>127.0.0.1:9000</socket>
  <processes>3</processes>
  <master/>
  <vacuum>true</vacuum>
  <chmod-socket>660</chmod-socket>
  <harakiri>30</harakiri>
  <env>A=1</env>
  <env>B=2</env>
  <app>app.js</app>
</uwsgi>`;
  const json = JSON.stringify({ uwsgi: { socket: ['/run/a.sock', '127.0.0.1:9000'], processes: 3, master: true, vacuum: true, 'chmod-socket': '660', harakiri: 30, env: ['A=1', 'B=2'], app: 'app.js' } });
  const cli = ['--socket', '/run/a.sock', '-s', '127.0.0.1:9000', '-p', '3', '--master', '--vacuum', '--chmod-socket=660', '--harakiri', '30', '--env', 'A=1', '--env', 'B=2', 'app.js'];
  // The environment holds one value per option, so the repeatable ones come from the command line.
  const env = { UWSGI_PROCESSES: '3', UWSGI_MASTER: '1', UWSGI_VACUUM: 'true', UWSGI_CHMOD_SOCKET: '660', UWSGI_HARAKIRI: '30', UWSGI_APP: 'app.js' };
  const envCli = ['--socket', '/run/a.sock', '--socket', '127.0.0.1:9000', '--env', 'A=1', '--env', 'B=2'];
  const files = { 'c.ini': ini, 'c.xml': xml, 'c.json': json };
  const resolved = [
    resolveConfig(load(files, ['--ini', 'c.ini']).raw),
    resolveConfig(load(files, ['c.xml']).raw),
    resolveConfig(load(files, ['--json', 'c.json']).raw),
    resolveConfig(load(files, cli).raw),
    resolveConfig(load(files, envCli, env).raw),
  ];
  t.deepEqual(resolved[0].sockets, ['/run/a.sock', '127.0.0.1:9000']);
  t.is(resolved[0].chmodSocket, 0o660);
  for (const [i, c] of resolved.entries()) t.deepEqual(c, resolved[0], ['ini', 'xml', 'json', 'cli', 'env'][i]);
});

// ---------------------------------------------------------------------------------------------
// INI (core/ini.c)

const INI_CASES: { name: string; ini: string; argv?: string[]; expect: Record<string, string[] | undefined> }[] = [
  {
    name: 'only the [uwsgi] section counts; comments start with ; or #',
    ini: '[other]\nprocesses = 9\n[uwsgi]\n; comment\n# comment\n  processes = 2  \n[tail]\nprocesses = 7\n',
    expect: { processes: ['2'] },
  },
  { name: 'no inline comments: the rest of the line is the value', ini: '[uwsgi]\nchdir = /srv ; not a comment\n', expect: { chdir: ['/srv ; not a comment'] } },
  { name: 'quotes are kept literally', ini: '[uwsgi]\nchdir = "/srv/app"\n', expect: { chdir: ['"/srv/app"'] } },
  { name: 'the key ends at the first =', ini: '[uwsgi]\nenv = A=b=c\n', expect: { env: ['A=b=c'] } },
  { name: 'a bare key (no =) is empty, which is true', ini: '[uwsgi]\nvacuum\nmaster =\n', expect: { vacuum: [''], master: [''] } },
  { name: 'CRLF line ends and tabs are stripped', ini: '[uwsgi]\r\n\tprocesses\t=\t5\r\n', expect: { processes: ['5'] } },
  { name: 'repeated keys append for repeatable options', ini: '[uwsgi]\nsocket = a\nsocket = b\n', expect: { socket: ['a', 'b'] } },
  { name: 'underscores equal dashes (a nuwsgi leniency)', ini: '[uwsgi]\nmax_requests = 7\n', expect: { 'max-requests': ['7'] } },
  { name: 'a file without a trailing newline', ini: '[uwsgi]\nprocesses = 4', expect: { processes: ['4'] } },
  { name: 'file:section selects another section', ini: '[uwsgi]\nprocesses = 1\n[prod]\nprocesses = 5\n', argv: ['--ini', 'c.ini:prod'], expect: { processes: ['5'] } },
  {
    name: 'ini = :section re-reads the last INI file read',
    ini: '[uwsgi]\nprocesses = 1\nini = :extra\n[extra]\nharakiri = 9\n',
    expect: { processes: ['1'], harakiri: ['9'] },
  },
  { name: '[ uwsgi ] is a different section (verbatim name)', ini: '[ uwsgi ]\nprocesses = 3\n[uwsgi]\nlisten = 5\n', expect: { processes: undefined, listen: ['5'] } },
];

for (const c of INI_CASES) {
  test(`INI: ${c.name}`, (t) => {
    t.deepEqual(values({ 'c.ini': c.ini }, c.argv ?? ['c.ini'], Object.keys(c.expect)), c.expect);
  });
}

test('INI: uWSGI boolean spellings resolve as uWSGI does', (t) => {
  const cases: [string, boolean][] = [
    ['vacuum', true],
    ['vacuum =', true],
    ['vacuum = true', true],
    ['vacuum = True', true],
    ['vacuum = 1', true],
    ['vacuum = yes', true],
    ['vacuum = on', true],
    ['vacuum = false', false],
    ['vacuum = FALSE', false],
    ['vacuum = off', false],
    ['vacuum = no', false],
    ['vacuum = 0', false],
  ];
  for (const [line, expected] of cases) {
    const c = load({ 'c.ini': `[uwsgi]\n${line}\nsocket = /a\napp = a.js\n` }, ['c.ini']);
    t.is(resolveConfig(c.raw).vacuum, expected, line);
    t.deepEqual(c.warnings, [], line);
  }
  const odd = load({ 'c.ini': '[uwsgi]\nvacuum = yes please\n' }, ['c.ini']);
  t.deepEqual(odd.raw.get('vacuum'), ['yes please']);
  t.regex(odd.warnings.join('\n'), /c\.ini:2: vacuum = yes please is read as true/);
});

test('INI: a missing file, a missing section and a section-less file are errors naming them', (t) => {
  t.regex(fails({}, ['--ini', 'nope.ini']), /^command line: cannot read config file nope\.ini: ENOENT/);
  t.regex(fails({ 'c.ini': '[uwsgi]\nprocesses = 1\n' }, ['c.ini:prod']), /command line: c\.ini has no \[prod\] section/);
  t.regex(fails({ 'c.ini': 'processes = 1\n' }, ['c.ini']), /c\.ini has no \[uwsgi\] section/);
  t.regex(fails({ 'c.ini': '[uwsgi]\ninclude = other.ini\n' }, ['c.ini']), /^c\.ini:2: cannot read config file other\.ini: ENOENT/);
  // --no-strict: uWSGI's behaviour, a warning and nothing read.
  const lax = load({ 'c.ini': 'processes = 1\n' }, ['--no-strict', 'c.ini']);
  t.regex(lax.warnings.join('\n'), /no \[uwsgi\] section \(ignored: strict is off\)/);
  t.is(lax.raw.get('processes'), undefined);
});

test('INI: includes expand in place, and a cycle of includes is an error', (t) => {
  const files = {
    'a.ini': '[uwsgi]\nprocesses = 1\ninclude = b.ini\nharakiri = 1\n',
    'b.ini': '[uwsgi]\nprocesses = 2\nharakiri = 2\n',
    'x.ini': '[uwsgi]\nini = y.ini\n',
    'y.ini': '[uwsgi]\nini = x.ini\n',
    's.ini': '[uwsgi]\nini = :two\n[two]\nini = :uwsgi\n',
  };
  // a.ini's harakiri comes after the include; processes = 2 from b.ini wins over a.ini's earlier 1.
  t.deepEqual(values(files, ['a.ini'], ['processes', 'harakiri']), { processes: ['1', '2'], harakiri: ['2', '1'] });
  t.regex(fails(files, ['x.ini']), /^y\.ini:2: config files include each other in a cycle: x\.ini -> y\.ini -> x\.ini$/);
  t.regex(fails(files, ['s.ini']), /cycle: :two -> :uwsgi -> :two/);
});

// ---------------------------------------------------------------------------------------------
// XML (core/xmlconf.c)

const XML_CASES: { name: string; xml: string; spec?: string; expect: Record<string, string[] | undefined> }[] = [
  { name: 'children of the <uwsgi> root are options', xml: '<uwsgi><processes>2</processes><socket>a</socket><socket>b</socket></uwsgi>', expect: { processes: ['2'], socket: ['a', 'b'] } },
  { name: 'an empty element is "1" (true)', xml: '<uwsgi><master/><vacuum></vacuum></uwsgi>', expect: { master: ['1'], vacuum: ['1'] } },
  { name: 'attributes are ignored: the text is the value', xml: '<uwsgi><harakiri value="30">10</harakiri></uwsgi>', expect: { harakiri: ['10'] } },
  { name: 'text is not trimmed', xml: '<uwsgi><chdir>  /srv  </chdir></uwsgi>', expect: { chdir: ['  /srv  '] } },
  { name: 'entities are decoded, comments skipped', xml: '<!-- x --><uwsgi><!-- y --><env>A=&amp;b</env></uwsgi>', expect: { env: ['A=&b'] } },
  { name: 'values stay strings (0660 is not 432)', xml: '<uwsgi><chmod-socket>0660</chmod-socket></uwsgi>', expect: { 'chmod-socket': ['0660'] } },
  { name: 'another root: its first <uwsgi> child', xml: '<config><other/><uwsgi><processes>4</processes></uwsgi><uwsgi><processes>5</processes></uwsgi></config>', expect: { processes: ['4'] } },
  {
    name: 'file:id selects <uwsgi id="id">',
    xml: '<config><uwsgi id="one"><processes>1</processes></uwsgi><uwsgi id="two"><processes>2</processes></uwsgi></config>',
    spec: 'c.xml:two',
    expect: { processes: ['2'] },
  },
  {
    name: 'an id matching nothing takes the first stanza without an id (as uWSGI 2.0.21)',
    xml: '<config><uwsgi id="one"><processes>1</processes></uwsgi><uwsgi><processes>3</processes></uwsgi></config>',
    spec: 'c.xml:three',
    expect: { processes: ['3'] },
  },
];

for (const c of XML_CASES) {
  test(`XML: ${c.name}`, (t) => {
    t.deepEqual(values({ 'c.xml': c.xml }, ['--xml', c.spec ?? 'c.xml'], Object.keys(c.expect)), c.expect);
  });
}

test('XML: malformed documents, nested elements and a missing stanza are errors with the line', (t) => {
  t.regex(fails({ 'c.xml': '<uwsgi>\n<processes>1</processes>\n<socket>a</sock>\n</uwsgi>' }, ['c.xml']), /^c\.xml:3: malformed XML: Expected closing tag 'socket'/);
  t.regex(fails({ 'c.xml': '<uwsgi>\n\n<env>a & b</env>\n</uwsgi>' }, ['c.xml']), /^c\.xml:3: malformed XML/);
  t.regex(fails({ 'c.xml': '<uwsgi>\n<env><x>1</x></env>\n</uwsgi>' }, ['c.xml']), /^c\.xml:2: <env> contains elements/);
  t.regex(fails({ 'c.xml': '<config><other/></config>' }, ['c.xml']), /^c\.xml: no <uwsgi> element/);
  t.regex(fails({ 'c.xml': '<config><uwsgi id="a"/></config>' }, ['c.xml:b']), /no <uwsgi id="b"> element/);
});

test('XML: unknown and python-only elements report their line', (t) => {
  t.regex(fails({ 'c.xml': '<uwsgi>\n  <processes>1</processes>\n  <proceses>2</proceses>\n</uwsgi>' }, ['c.xml']), /^c\.xml:3: unknown option "proceses" \(did you mean processes\?\)$/);
  const c = load({ 'c.xml': '<uwsgi>\n<enable-threads/>\n</uwsgi>' }, ['c.xml']);
  t.deepEqual(c.warnings, ["c.xml:2: enable-threads: an option of uWSGI that nuwsgi does not implement; ignored"]);
});

test('XML: the stanzas fixture', (t) => {
  const c = configure(['--xml', path.join(FIXTURES, 'stanzas.xml:production')], { env: {} });
  t.deepEqual(c.raw.get('socket'), ['/run/production.sock', '127.0.0.1:9000'.replace('9000', '3031')]);
  t.deepEqual([c.raw.get('processes'), c.raw.get('harakiri'), c.raw.get('vacuum')], [['8'], ['30'], ['1']]);
  t.true(c.ignored.has('enable-threads'));
});

// ---------------------------------------------------------------------------------------------
// JSON (core/json.c)

const JSON_CASES: { name: string; json: string; spec?: string; expect: Record<string, string[] | undefined> }[] = [
  { name: 'strings as-is, numbers as written', json: '{"uwsgi": {"chdir": "/srv", "harakiri": 1.50, "processes": 4}}', expect: { chdir: ['/srv'], harakiri: ['1.50'], processes: ['4'] } },
  { name: 'true is "1", false and null are "0"', json: '{"uwsgi": {"master": true, "vacuum": false, "harakiri-verbose": null}}', expect: { master: ['1'], vacuum: ['0'], 'harakiri-verbose': ['0'] } },
  { name: 'arrays are repeated options', json: '{"uwsgi": {"socket": ["a", "b"], "env": ["A=1"]}}', expect: { socket: ['a', 'b'], env: ['A=1'] } },
  { name: 'duplicate keys append, like repeated INI keys', json: '{"uwsgi": {"socket": "a", "socket": "b"}}', expect: { socket: ['a', 'b'] } },
  { name: 'file:key selects another object', json: '{"uwsgi": {"processes": 1}, "app2": {"processes": 2}}', spec: 'c.json:app2', expect: { processes: ['2'] } },
];

for (const c of JSON_CASES) {
  test(`JSON: ${c.name}`, (t) => {
    t.deepEqual(values({ 'c.json': c.json }, ['--json', c.spec ?? 'c.json'], Object.keys(c.expect)), c.expect);
  });
}

test('JSON: a missing object and malformed JSON are errors with the line; nested objects warn', (t) => {
  t.regex(fails({ 'c.json': '{"other": {}}' }, ['c.json']), /^c\.json: no "uwsgi" object/);
  t.regex(fails({ 'c.json': '{\n"uwsgi": {\n"processes": 1,\n}\n}' }, ['c.json']), /^c\.json:4: malformed JSON: expected a "key" but found "}"/);
  t.regex(fails({ 'c.json': '{"uwsgi": {"processes": 1}} x' }, ['c.json']), /malformed JSON: unexpected "x" after the document/);
  t.regex(fails({ 'c.json': '{\n  "uwsgi": {\n    "procesess": 1\n  }\n}' }, ['c.json']), /^c\.json:3: unknown option "procesess" \(did you mean processes\?\)/);
  const c = load({ 'c.json': '{"uwsgi": {\n"env": {"A": "1"}}}' }, ['c.json']);
  t.regex(c.warnings.join('\n'), /c\.json:2: "env": nested object ignored/);
});

// ---------------------------------------------------------------------------------------------
// Environment (core/utils.c parse_sys_envs)

test('environment: UWSGI_FOO_BAR is foo-bar; uWSGI-internal variables are skipped', (t) => {
  const v = values({}, [], ['max-requests', 'processes'], { UWSGI_MAX_REQUESTS: '9', UWSGI_PROCESSES: '2', UWSGI_RELOADS: '3', UWSGI_EMPEROR_FD: '4', PATH: '/bin' });
  t.deepEqual(v, { 'max-requests': ['9'], processes: ['2'] });
  t.regex(fails({}, [], { UWSGI_PROCESES: '2' }), /^environment UWSGI_PROCESES: unknown option "proceses" \(did you mean processes\?\)$/);
  // UWSGI_INI loads a file, as --ini would.
  t.deepEqual(values({ 'c.ini': '[uwsgi]\nharakiri = 5\n' }, [], ['harakiri'], { UWSGI_INI: 'c.ini' }), { harakiri: ['5'] });
});

// ---------------------------------------------------------------------------------------------
// Precedence: purely positional (reference §1.7, verified with uWSGI 2.0.21)

test('precedence: environment first, then the command line in order, files in place', (t) => {
  const files = { 'p.ini': '[uwsgi]\nprocesses = 3\n[other]\nprocesses = 5\n', 'app.js': '' };
  const rows: { argv: string[]; env?: NodeJS.ProcessEnv; workers: number; uwsgi: number }[] = [
    { argv: ['--ini', 'p.ini'], workers: 3, uwsgi: 3 },
    { argv: ['--processes', '2', '--ini', 'p.ini'], workers: 3, uwsgi: 3 },
    { argv: ['--ini', 'p.ini', '--processes', '2'], workers: 2, uwsgi: 2 },
    { argv: ['--processes', '2', 'p.ini'], workers: 3, uwsgi: 3 },
    // The deliberate difference: a bare file argument is read where it is (uWSGI: 3, read last).
    { argv: ['p.ini', '--processes', '2'], workers: 2, uwsgi: 3 },
    { argv: ['--ini', 'p.ini'], env: { UWSGI_PROCESSES: '4' }, workers: 3, uwsgi: 3 },
    { argv: [], env: { UWSGI_PROCESSES: '4' }, workers: 4, uwsgi: 4 },
    { argv: ['--processes', '2'], env: { UWSGI_PROCESSES: '4' }, workers: 2, uwsgi: 2 },
    { argv: ['--ini', 'p.ini:other'], workers: 5, uwsgi: 5 },
  ];
  for (const row of rows) {
    const c = load(files, [...row.argv, '-s', '/a', 'app.js'], row.env);
    t.is(resolveConfig(c.raw).processes, row.workers, `${JSON.stringify(row.env ?? {})} ${row.argv.join(' ')}`);
  }
});

test('inherit: the template is read after every other source and is not expanded (uWSGI order)', (t) => {
  const files = {
    'base.ini': '[uwsgi]\nprocesses = 9\nchdir = %(where)\nlisten = 64\n',
    'child.ini': '[uwsgi]\nprocesses = 2\ninherit = base.ini\nwhere = /srv\npidfile = %(where)/pid\n',
  };
  const c = load(files, ['child.ini', '--no-strict']);
  t.deepEqual(c.raw.get('processes'), ['2', '9']);
  t.deepEqual(c.raw.get('chdir'), ['%(where)']);
  t.deepEqual(c.raw.get('listen'), ['64']);
  t.deepEqual(c.raw.get('pidfile'), ['/srv/pid']);
});

// ---------------------------------------------------------------------------------------------
// Strict mode, unknown and uWSGI-only keys

test('an unknown key is an error naming file, line and the nearest option; --no-strict warns', (t) => {
  const files = { 'c.ini': '[uwsgi]\nprocesses = 2\nmax-request = 10\n' };
  t.is(fails(files, ['c.ini']), 'c.ini:3: unknown option "max-request" (did you mean max-requests?)');
  for (const argv of [['--no-strict', 'c.ini'], ['c.ini', '--strict=false'], ['--set', 'strict=false', 'c.ini']]) {
    const c = load(files, argv);
    t.deepEqual(c.warnings, ['c.ini:3: unknown option "max-request" (did you mean max-requests?) (ignored: strict is off)'], argv.join(' '));
  }
  // strict = false anywhere counts, even after the unknown key (uWSGI looks keys up after reading all).
  t.notThrows(() => load({ 'c.ini': '[uwsgi]\nfooo = bar\nstrict = false\n' }, ['c.ini']));
  // All problems at once.
  const many = fails({ 'c.ini': '[uwsgi]\nzork = 1\nprocesses = x\nbar = 2\n' }, ['c.ini']);
  t.deepEqual(many.split('\n'), ['c.ini:3: processes takes a whole number, not "x"', 'c.ini:2: unknown option "zork"', 'c.ini:4: unknown option "bar"']);
});

test('uWSGI options nuwsgi lacks (python plugin and core) warn once each and load', (t) => {
  const c = configure(['--ini', path.join(FIXTURES, 'django-style.ini')], { env: { PATH: '/usr/bin' } });
  const ignored = [...c.ignored.keys()];
  t.deepEqual(ignored, ['module', 'home', 'plugins', 'enable-threads', 'thunder-lock', 'single-interpreter', 'lazy-apps', 'py-autoreload', 'wsgi-disable-file-wrapper'].filter((k) => k !== 'module'));
  t.is(c.warnings.length, ignored.length);
  t.regex(c.warnings[0], /django-style\.ini:9: home: an option of uWSGI's python3 plugin that nuwsgi does not implement; ignored$/);
  t.deepEqual(c.raw.get('env'), ['DJANGO_SETTINGS_MODULE=mysite.settings', 'PATH=/srv/mysite/venv/bin:/usr/bin']);
  t.deepEqual(c.raw.get('socket'), ['/run/mysite/mysite.sock']);
  t.deepEqual(c.raw.get('chdir'), ['/srv/mysite']);
  t.deepEqual([...c.placeholders.keys()], ['project', 'base']);
});

test('YAML is refused, not silently skipped', (t) => {
  t.regex(fails({ 'c.yaml': 'uwsgi:\n  processes: 2\n' }, ['c.yaml']), /nuwsgi reads INI, XML and JSON configuration, not yaml/);
  t.regex(fails({}, ['--yml', 'c.yml']), /not yml/);
});
