import test from 'ava';
import { ConfigError, helpText, parseArgv } from '../src/config/cli.js';
import { resolveConfig } from '../src/config/config.js';
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
