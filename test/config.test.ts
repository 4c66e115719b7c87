// The command line: uWSGI's forms, defaults, repeatable options, errors with suggestions.

import test from 'ava';
import { argvEntries } from '../src/config/argv.js';
import { ConfigError, helpText, parseArgv } from '../src/config/cli.js';
import { resolveConfig } from '../src/config/config.js';
import { configure } from '../src/config/configure.js';
import { OPTIONS } from '../src/config/options.js';

const resolve = (...argv: string[]) => resolveConfig(parseArgv(argv));

test('uWSGI command-line forms all set the same options', (t) => {
  const forms = [
    ['--socket', '/run/a.sock', '--processes', '4', 'app.js'],
    ['--socket=/run/a.sock', '--processes=4', 'app.js'],
    ['-s', '/run/a.sock', '-p', '4', '--app', 'app.js'],
    ['-s/run/a.sock', '-p4', '--wsgi-file', 'app.js'],
    ['--uwsgi-socket', '/run/a.sock', '--workers', '4', '--module=app.js'],
  ];
  for (const argv of forms) {
    const c = resolveConfig(parseArgv(argv));
    t.deepEqual([c.sockets, c.processes, c.app], [['/run/a.sock'], 4, 'app.js'], argv.join(' '));
  }
});

test('defaults follow uWSGI where it is safe, and the protocol maximum for buffer-size', (t) => {
  const c = resolve('-s', ':9000', 'app.js');
  t.is(c.processes, 1);
  t.is(c.bufferSize, 65535);
  t.is(c.socketTimeout, 4);
  t.is(c.harakiri, 0);
  t.is(c.workerReloadMercy, 60);
  t.is(c.vacuum, false);
  t.is(c.chmodSocket, undefined);
});

test('repeatable options keep every value in order', (t) => {
  const c = resolve('-s', '/a.sock', '--socket', '127.0.0.1:9000', '--http-socket', ':8080', '--env', 'A=1', '--env=B=2=3', 'app.js');
  t.deepEqual(c.sockets, ['/a.sock', '127.0.0.1:9000']);
  t.deepEqual(c.httpSockets, [':8080']);
  t.deepEqual(c.env, ['A=1', 'B=2=3']);
});

test('--chmod-socket alone means 666, with a value it is octal', (t) => {
  t.is(resolve('-s', '/a.sock', '--chmod-socket', 'app.js').chmodSocket, 0o666);
  t.is(resolve('-s', '/a.sock', '--chmod-socket=660', 'app.js').chmodSocket, 0o660);
});

test('booleans take uWSGI spellings; underscores equal dashes', (t) => {
  t.true(resolve('-s', '/a', '--vacuum', 'app.js').vacuum);
  t.true(resolve('-s', '/a', '--vacuum=true', 'app.js').vacuum);
  t.false(resolve('-s', '/a', '--vacuum=0', 'app.js').vacuum);
  t.is(resolve('-s', '/a', '--buffer_size', '8192', 'app.js').bufferSize, 8192);
  t.true(parseArgv(['--master']).has('master'));
});

test('an unknown option is an error that suggests the nearest known one', (t) => {
  const e = t.throws(() => parseArgv(['--proceses', '2']), { instanceOf: ConfigError });
  t.regex(e!.message, /unknown option --proceses \(did you mean --processes\?\)/);
  const far = t.throws(() => parseArgv(['--zzzzzzzzzz']), { instanceOf: ConfigError });
  t.notRegex(far!.message, /did you mean/);
  t.throws(() => parseArgv(['-q']), { message: /unknown option -q/ });
});

test('bad values and missing pieces are errors that say what to give', (t) => {
  t.throws(() => resolve('-s', '/a', '-p', 'four', 'app.js'), { message: /--processes takes a whole number/ });
  t.throws(() => resolve('-s', '/a', '--chmod-socket=rw', 'app.js'), { message: /octal mode/ });
  t.throws(() => resolve('-s', '/a', '--buffer-size', '70000', 'app.js'), { message: /16-bit/ });
  t.throws(() => resolve('-s', '/a', '-p', '0', 'app.js'), { message: /at least 1/ });
  t.throws(() => resolve('app.js'), { message: /no socket/ });
  t.throws(() => resolve('-s', '/a'), { message: /no app given/ });
  t.throws(() => resolve('-s', '/a', 'a.js', 'b.js'), { message: /one app per server/ });
  t.throws(() => resolve('-s', '/a', '--env', 'NOEQUALS', 'app.js'), { message: /KEY=VALUE/ });
  t.throws(() => parseArgv(['--socket']), { message: /--socket needs a value/ });
});

test('--help lists every option with its default', (t) => {
  const help = helpText('9.9.9');
  for (const spec of OPTIONS) t.true(help.includes(`--${spec.name}`), spec.name);
  t.regex(help, /--buffer-size BYTES\s+.*\(default 65535\)/);
});

test('uWSGI options nuwsgi lacks are skipped on the command line with their argument, and warned about', (t) => {
  const c = configure(['--enable-threads', '--threads', '4', '-T', '--lazy-apps', '--py-autoreload=1', '-s', '/a', '--single-interpreter', 'app.js'], { env: {} });
  t.deepEqual([c.raw.get('socket'), c.raw.get('app')], [['/a'], ['app.js']]);
  t.deepEqual([...c.ignored.keys()], ['enable-threads', 'threads', 'lazy-apps', 'py-autoreload', 'single-interpreter']);
  t.is(c.warnings[0], 'command line: enable-threads: an option of uWSGI that nuwsgi does not implement; ignored');
  t.throws(() => parseArgv(['--threads']), { message: /--threads needs a value/ });
});

test('--no-BOOL negates a boolean; uWSGI short aliases map to the same options', (t) => {
  t.deepEqual(parseArgv(['--no-vacuum']).get('vacuum'), ['false']);
  t.deepEqual(parseArgv(['-C', '--chmod=640']).get('chmod-socket'), ['666', '640']);
  t.throws(() => parseArgv(['--no-socket']), { message: /unknown option --no-socket/ });
});

test('bare *.ini, *.xml and *.json arguments are config files; anything else is the app', (t) => {
  t.deepEqual(argvEntries(['a.ini', 'b.xml:two', 'c.json', 'app.js', 'server.mjs']).map((e) => `${e.key}=${e.value}`), ['ini=a.ini', 'xml=b.xml:two', 'json=c.json', 'app=app.js', 'app=server.mjs']);
});

test('an unknown option on the command line is an error even with --no-strict (its arity is unknown)', (t) => {
  t.throws(() => parseArgv(['--no-strict', '--bogus-option', 'x']), { message: /unknown option --bogus-option/ });
  t.throws(() => parseArgv(['--enable-thread']), { message: /unknown option --enable-thread \(did you mean --enable-threads\? a uWSGI option nuwsgi ignores\)/ });
});
