// src/observability/request-log.ts against fixed records: the default line, every --log-format
// variable, uWSGI's parsing quirks, the JSON line and the shouldLog truth table. Expected strings
// are uWSGI's renderings (checked against the real uWSGI in uwsgi-logline.test.ts and against
// glibc for ctime/strftime/printf("%f")).

// Local time must be deterministic: a zone with a half-hour offset and DST shows %z and ctime
// are local. Set before any Date use; ava runs each test file in its own process.
process.env.TZ = 'America/St_Johns';

import test from 'ava';
import type { RequestRecord } from '../src/observability/record.js';
import {
  compileLogFormat,
  ctime24,
  formatDefaultLine,
  formatJsonLine,
  JSON_LINE_FIELDS,
  LOG_FORMAT_VARIABLES,
  parseLogFormat,
  shouldLog,
  strftime,
  type LogFilterOptions,
} from '../src/observability/request-log.js';

// 2026-11-03T00:04:05.678901Z = Mon Nov  2 20:34:05 2026 in St. John's (-0330, standard time).
const START_SEC = 1793664245;
const START_MS = START_SEC * 1000 + 678.901;

const REQUEST_VARS: Record<string, string> = { REQUEST_METHOD: 'GET', HTTP_X_REQUEST_ID: 'abc-123', EMPTY: '' };

function record(over: Partial<RequestRecord> = {}): RequestRecord {
  return {
    startMs: START_MS,
    durationUs: 1_234_567,
    method: 'GET',
    uri: '/hello?x=1',
    proto: 'HTTP/1.1',
    status: 200,
    addr: '10.0.0.7',
    user: '',
    host: 'example.org',
    uagent: 'test/1.0',
    referer: '',
    cl: 0,
    vars: 20,
    pktsize: 228,
    modifier1: 0,
    modifier2: 0,
    rsize: 12,
    hsize: 65,
    headers: 2,
    pid: 4242,
    wid: 2,
    requestCount: 7,
    globalCount: 19,
    ioError: false,
    var: (name) => (Object.hasOwn(REQUEST_VARS, name) ? REQUEST_VARS[name] : undefined),
    rss: 52_428_805,
    vsz: 3_221_225_472,
    ...over,
  };
}

// ---------------------------------------------------------------- default line

const DEFAULT_LINE =
  '[pid: 4242|app: 0|req: 7/19] 10.0.0.7 () {20 vars in 228 bytes} [Mon Nov  2 20:34:05 2026] ' +
  'GET /hello?x=1 => generated 12 bytes in 1234 msecs (HTTP/1.1 200) 2 headers in 65 bytes ' +
  '(1 switches on core 0)';

test('default line: the uWSGI line for a fixed record', (t) => {
  t.is(formatDefaultLine(record()), DEFAULT_LINE);
});

const defaultCases: [string, Partial<RequestRecord>, string][] = [
  ['user in parentheses', { user: 'alice' }, '10.0.0.7 (alice) {'],
  ['msecs is µs / 1000, truncated', { durationUs: 1999 }, 'in 1 msecs ('],
  ['sub-ms request is 0 msecs', { durationUs: 999 }, 'in 0 msecs ('],
  ['negative duration clamps to 0 (uWSGI #1489 guard)', { durationUs: -5 }, 'in 0 msecs ('],
  ['two-digit day of month', { startMs: Date.UTC(2026, 10, 27, 12, 0, 0) }, '[Fri Nov 27 08:30:00 2026]'],
  ['DST offset applies to ctime', { startMs: Date.UTC(2026, 6, 4, 12, 0, 0) }, '[Sat Jul  4 09:30:00 2026]'],
  ['app count 0 prints -1', { requestCount: 0 }, '|app: 0|req: -1/19]'],
  ['IPv6 address as given', { addr: '::1' }, '] ::1 () {'],
  ['status and proto', { proto: 'HTTP/1.0', status: 404 }, '(HTTP/1.0 404) 2 headers'],
];

for (const [name, over, fragment] of defaultCases) {
  test(`default line: ${name}`, (t) => {
    const line = formatDefaultLine(record(over));
    t.true(line.includes(fragment), line);
  });
}

test('default line: missing method, uri, proto and addr print empty (observed in uWSGI 2.0.21)', (t) => {
  // uWSGI: "[pid: 18582|app: 0|req: 1/1]  () {4 vars in 33 bytes} [Fri Nov 27 14:11:25 2026]   =>
  // generated 12 bytes in 0 msecs ( 200) 2 headers in 65 bytes (1 switches on core 0)"
  const r = record({
    pid: 18582, requestCount: 1, globalCount: 1, addr: '', method: '', uri: '', proto: '',
    vars: 4, pktsize: 33, durationUs: 120, startMs: Date.UTC(2026, 10, 27, 17, 41, 25),
  });
  t.is(
    formatDefaultLine(r),
    '[pid: 18582|app: 0|req: 1/1]  () {4 vars in 33 bytes} [Fri Nov 27 14:11:25 2026]   => ' +
      'generated 12 bytes in 0 msecs ( 200) 2 headers in 65 bytes (1 switches on core 0)',
  );
});

test('default line: --log-micros', (t) => {
  t.true(formatDefaultLine(record(), { logMicros: true }).includes('in 1234567 micros ('));
});

test('default line: --memory-report prefix', (t) => {
  const r = record({ vsz: 60985344, rss: 11210752 });
  t.is(
    formatDefaultLine(r, { memoryReport: true }),
    '{address space usage: 60985344 bytes/58MB} {rss usage: 11210752 bytes/10MB} ' + DEFAULT_LINE,
  );
});

test('default line: --vhost prefix comes before the memory report', (t) => {
  const line = formatDefaultLine(record(), { vhost: true, memoryReport: true });
  t.true(line.startsWith('example.org {address space usage: '), line);
});

test('default line: a line over 4095 bytes falls back to the minimal line', (t) => {
  const fits = 4095 - Buffer.byteLength(formatDefaultLine(record({ uri: '' })));
  t.is(Buffer.byteLength(formatDefaultLine(record({ uri: 'x'.repeat(fits) }))), 4095);
  const long = formatDefaultLine(record({ uri: 'x'.repeat(fits + 1), user: 'bob' }));
  t.is(
    long,
    '[pid: 4242|app: 0|req: 7/19] 0.0.0.0 () {20 vars in 228 bytes} [Mon Nov  2 20:34:05 2026] ' +
      '- - => generated 12 bytes in 1234 msecs (- 200) 2 headers in 65 bytes (1 switches on core 0)',
  );
});

test('default line: the 4096 limit counts bytes, not characters', (t) => {
  const fits = 4095 - Buffer.byteLength(formatDefaultLine(record({ uri: '' })));
  const line = formatDefaultLine(record({ uri: 'é'.repeat(Math.ceil(fits / 2) + 1) }));
  t.true(line.includes(' - - => '), line.slice(0, 120));
});

// ---------------------------------------------------------------- log-format variables

// Every variable uWSGI registers, rendered for record() (and for `empty` where it differs).
const empty = record({
  user: '', addr: '', host: '', uagent: '', referer: '', method: '', uri: '', proto: '',
  status: 0, rsize: 0, hsize: 0, headers: 0, vars: 0, pktsize: 0, rss: 0, vsz: 0, durationUs: 0,
});

const variableCases: [string, string, string?][] = [
  ['uri', '/hello?x=1', '-'],
  ['method', 'GET', '-'],
  ['user', '-', '-'],
  ['addr', '10.0.0.7', '-'],
  ['host', 'example.org', '-'],
  ['proto', 'HTTP/1.1', '-'],
  ['uagent', 'test/1.0', '-'],
  ['referer', '-', '-'],
  ['status', '200', '0'],
  ['rsize', '12', '0'],
  ['hsize', '65', '0'],
  ['size', '77', '0'],
  ['headers', '2', '0'],
  ['cl', '0'],
  ['micros', '1234567', '0'],
  ['msecs', '1234', '0'],
  ['secs', '1.234567', '0.000000'],
  ['time', String(START_SEC)],
  ['tmsecs', `${START_SEC}678`],
  ['tmicros', `${START_SEC}678901`],
  ['ctime', 'Mon Nov  2 20:34:05 2026'],
  ['ltime', '02/Nov/2026:20:34:05 -0330'],
  ['ftime', '02/Nov/2026:20:34:05 -0330'],
  // time(NULL) when the line is written: start + duration (5.678901 s + 1.234567 s).
  ['epoch', String(START_SEC + 1), String(START_SEC)],
  ['pid', '4242'],
  ['wid', '2'],
  ['core', '0'],
  ['switches', '1'],
  ['vars', '20', '0'],
  ['pktsize', '228', '0'],
  ['modifier1', '0'],
  ['modifier2', '0'],
  ['vsz', '3221225472', '0'],
  ['rss', '52428805', '0'],
  ['vszM', '3072', '0'],
  ['rssM', '50', '0'],
  ['rerr', '0'],
  ['werr', '0'],
  ['ioerr', '0'],
];

test('log-format: the table covers every registered variable', (t) => {
  t.deepEqual(variableCases.map(([name]) => name).sort(), [...LOG_FORMAT_VARIABLES].sort());
});

for (const [name, full, whenEmpty] of variableCases) {
  test(`log-format: %(${name})`, (t) => {
    const render = compileLogFormat(`%(${name})`);
    t.is(render(record()), full);
    t.is(render(empty), whenEmpty ?? full);
  });
}

const moreCases: [string, Partial<RequestRecord>, string, string][] = [
  ['cl', { cl: 5 }, '%(cl)', '5'],
  ['status 500', { status: 500 }, '%(status)', '500'],
  ['modifiers', { modifier1: 5, modifier2: 9 }, '%(modifier1)/%(modifier2)', '5/9'],
  ['io error counts as a write error', { ioError: true }, '%(rerr) %(werr) %(ioerr)', '0 1 1'],
  ['user', { user: 'alice' }, '%(user)', 'alice'],
  ['msecs truncates', { durationUs: 1999 }, '%(msecs)', '1'],
  ['secs: float32, 6 decimals', { durationUs: 139 }, '%(secs)', '0.000139'],
  // printf("%f") into uWSGI's 11-byte buffer: 1234.567871 is cut to 10 characters.
  ['secs: at most 10 characters', { durationUs: 1_234_567_890 }, '%(secs)', '1234.56787'],
  // float32(16.007812) is exactly 16.0078125; glibc rounds the tie to even.
  ['secs: ties round to even', { durationUs: 16_007_812 }, '%(secs)', '16.007812'],
  ['ltime in summer time', { startMs: Date.UTC(2026, 6, 4, 12, 0, 0) }, '%(ltime)', '04/Jul/2026:09:30:00 -0230'],
  ['tmicros from a whole-ms start', { startMs: START_SEC * 1000 + 5 }, '%(tmicros)', `${START_SEC}005000`],
  ['var.NAME', {}, '%(var.HTTP_X_REQUEST_ID)', 'abc-123'],
  ['var.NAME missing', {}, '%(var.HTTP_NOPE)', '-'],
  ['var.NAME empty', {}, '%(var.EMPTY)', '-'],
  ['var. with no name', {}, '%(var.)', '-'],
  ['metric.NAME: uWSGI prints 0', {}, '%(metric.requests)', '0'],
  ['unknown variable (an unset logvar)', {}, '%(nope)', '-'],
  ['names are case-sensitive', {}, '%(URI)', '-'],
  // (uWSGI's config layer would first expand "%( uri)" as placeholder math; that is config's job.)
  ['spaces are part of the name', {}, '%( uri)', '-'],
];

for (const [name, over, format, expected] of moreCases) {
  test(`log-format: ${name}`, (t) => {
    t.is(compileLogFormat(format)(record(over)), expected);
  });
}

test('log-format: metric hook', (t) => {
  const render = compileLogFormat('%(metric.a) %(metric.b)', { metric: (n) => (n === 'a' ? 42 : undefined) });
  t.is(render(record()), '42 0');
});

test('log-format: ftime uses the strftime pattern when given', (t) => {
  t.is(compileLogFormat('%(ftime)', { strftime: '%Y-%m-%dT%H:%M:%S%z' })(record()), '2026-11-02T20:34:05-0330');
});

test('log-format: ftime renders "-" when strftime overflows uWSGI\'s 64-byte buffer', (t) => {
  t.is(compileLogFormat('%(ftime)', { strftime: '%A %B '.repeat(5) })(record()), '-');
  t.is(compileLogFormat('%(ftime)', { strftime: 'x'.repeat(63) })(record()), 'x'.repeat(63));
});

test('log-format: Apache combined', (t) => {
  const render = compileLogFormat(
    '%(addr) - %(user) [%(ltime)] "%(method) %(uri) %(proto)" %(status) %(size) "%(referer)" "%(uagent)"',
  );
  t.is(render(record()), '10.0.0.7 - - [02/Nov/2026:20:34:05 -0330] "GET /hello?x=1 HTTP/1.1" 200 77 "-" "test/1.0"');
});

// How uWSGI's uwsgi_build_log_format splits text and variables (the same cases run against the
// real uWSGI in uwsgi-logline.test.ts).
const parseCases: [string, string][] = [
  ['plain text', 'plain text'],
  ['', ''],
  ['%(uri)%(method)', '/hello?x=1GET'],
  ['[%(status)]', '[200]'],
  ['%%(uri)', '%/hello?x=1'],
  ['100%', '100%'],
  ['100%%', '100%%'],
  ['%', '%'],
  ['%(uri', '%(uri'],
  ['x %(', 'x %('],
  ['%()', '%()'],
  ['%()x', '%%()x'],
  ['%(%uri)', '%/hello?x=1'],
  ['%((uri)', '%/hello?x=1'],
  ['%(a%(uri)', '%(a/hello?x=1'],
  ['%(uri %()x', '-x'],
  [')(', ')('],
  // ")" with nothing open keeps the state, so "%)(" still opens; the literal loses ")(".
  ['%)(uri)', '%/hello?x=1'],
  ['% (uri)', '% (uri)'],
  ['%(uri))', '/hello?x=1)'],
  ['é %(status) ü', 'é 200 ü'],
];

for (const [format, expected] of parseCases) {
  test(`log-format parsing: ${JSON.stringify(format)}`, (t) => {
    t.is(compileLogFormat(format)(record()), expected);
  });
}

test('log-format: parseLogFormat chunks', (t) => {
  t.deepEqual(parseLogFormat('a %(uri) b'), [{ text: 'a ' }, { name: 'uri' }, { text: ' b' }]);
  t.deepEqual(parseLogFormat('%()x'), [{ text: '%' }, { text: '%()x' }]);
});

test('log-format: compiled renderer is reusable across records', (t) => {
  const render = compileLogFormat('%(status) %(uri)');
  t.is(render(record({ status: 201, uri: '/a' })), '201 /a');
  t.is(render(record({ status: 404, uri: '/b' })), '404 /b');
});

// ---------------------------------------------------------------- time helpers

test('ctime24 pads the day with a space and is 24 characters', (t) => {
  t.is(ctime24(START_SEC), 'Mon Nov  2 20:34:05 2026');
  t.is(ctime24(START_SEC + 86400 * 10), 'Thu Nov 12 20:34:05 2026');
  t.is(ctime24(0), 'Wed Dec 31 20:30:00 1969');
});

test('strftime conversions (glibc, C locale)', (t) => {
  // Expected values from GNU date for the same instant and zone.
  const ms = Date.UTC(2026, 6, 4, 12, 0, 0);
  t.is(strftime('%d/%b/%Y:%H:%M:%S %z %j %u %w', ms), '04/Jul/2026:09:30:00 -0230 185 6 6');
  t.is(strftime('%e %k %l %p %I %C %y %D %F', ms), ' 4  9  9 AM 09 20 26 07/04/26 2026-07-04');
  t.is(strftime('%R %T %r', ms), '09:30 09:30:00 09:30:00 AM');
  t.is(strftime('%a %A %b %h %B %s %%', ms), `Sat Saturday Jul Jul July ${ms / 1000} %`);
  t.is(strftime('%c|%x|%X', ms), 'Sat Jul  4 09:30:00 2026|07/04/26|09:30:00');
  t.is(strftime('%Q %-d %', ms), '%Q %-d %');
});

// ---------------------------------------------------------------- JSON line

test('JSON line: one line, parses, has exactly the documented fields in order', (t) => {
  const line = formatJsonLine(record());
  t.false(line.includes('\n'));
  const obj = JSON.parse(line) as Record<string, unknown>;
  t.deepEqual(Object.keys(obj), [...JSON_LINE_FIELDS]);
  t.deepEqual(obj, {
    time: START_SEC,
    tmsecs: START_SEC * 1000 + 678,
    addr: '10.0.0.7',
    user: '',
    method: 'GET',
    uri: '/hello?x=1',
    proto: 'HTTP/1.1',
    status: 200,
    msecs: 1234,
    micros: 1234567,
    size: 77,
    rsize: 12,
    hsize: 65,
    headers: 2,
    cl: 0,
    host: 'example.org',
    uagent: 'test/1.0',
    referer: '',
    vars: 20,
    pktsize: 228,
    modifier1: 0,
    modifier2: 0,
    pid: 4242,
    wid: 2,
    ioerr: 0,
    rss: 52428805,
    vsz: 3221225472,
  });
});

test('JSON line: control characters and quotes stay inside one line', (t) => {
  const line = formatJsonLine(record({ uri: '/a\nb"c\\', uagent: 'x\u0000y', ioError: true }));
  t.false(line.includes('\n'));
  const obj = JSON.parse(line) as Record<string, unknown>;
  t.is(obj.uri, '/a\nb"c\\');
  t.is(obj.uagent, 'x\u0000y');
  t.is(obj.ioerr, 1);
});

// ---------------------------------------------------------------- shouldLog

const OFF: LogFilterOptions = { disableLogging: false, log4xx: false, log5xx: false, logSlowMs: 0, logBig: 0, logZero: false };
const DISABLED: LogFilterOptions = { ...OFF, disableLogging: true };

const filterCases: [string, LogFilterOptions, Partial<RequestRecord>, boolean][] = [
  ['logging on by default', OFF, {}, true],
  ['on: the log-* options never suppress', { ...OFF, log4xx: true, log5xx: true, logSlowMs: 1000, logBig: 10 ** 6, logZero: true }, {}, true],
  ['disabled', DISABLED, {}, false],
  ['disabled, 404 without --log-4xx', DISABLED, { status: 404 }, false],
  ['--log-4xx: 400', { ...DISABLED, log4xx: true }, { status: 400 }, true],
  ['--log-4xx: 499', { ...DISABLED, log4xx: true }, { status: 499 }, true],
  ['--log-4xx: 399', { ...DISABLED, log4xx: true }, { status: 399 }, false],
  ['--log-4xx: 500', { ...DISABLED, log4xx: true }, { status: 500 }, false],
  ['--log-5xx: 500', { ...DISABLED, log5xx: true }, { status: 500 }, true],
  ['--log-5xx: 599', { ...DISABLED, log5xx: true }, { status: 599 }, true],
  ['--log-5xx: 600', { ...DISABLED, log5xx: true }, { status: 600 }, false],
  ['--log-5xx: 404', { ...DISABLED, log5xx: true }, { status: 404 }, false],
  ['--log-slow 100: 100 ms (>=)', { ...DISABLED, logSlowMs: 100 }, { durationUs: 100_000 }, true],
  ['--log-slow 100: 100.999 ms counts as 100', { ...DISABLED, logSlowMs: 100 }, { durationUs: 100_999 }, true],
  ['--log-slow 100: 99.999 ms', { ...DISABLED, logSlowMs: 100 }, { durationUs: 99_999 }, false],
  ['--log-slow 0 is off', { ...DISABLED, logSlowMs: 0 }, { durationUs: 10 ** 9 }, false],
  ['--log-big 100: body of 100 (>=)', { ...DISABLED, logBig: 100 }, { rsize: 100 }, true],
  ['--log-big 100: body of 99', { ...DISABLED, logBig: 100 }, { rsize: 99 }, false],
  ['--log-big counts the body only', { ...DISABLED, logBig: 100 }, { rsize: 50, hsize: 100 }, false],
  ['--log-zero: empty body', { ...DISABLED, logZero: true }, { rsize: 0, hsize: 40 }, true],
  ['--log-zero: non-empty body', { ...DISABLED, logZero: true }, { rsize: 1 }, false],
  ['several options, one matches', { ...DISABLED, log4xx: true, logSlowMs: 500 }, { status: 200, durationUs: 600_000 }, true],
  ['several options, none matches', { ...DISABLED, log4xx: true, log5xx: true, logSlowMs: 500 }, { status: 302, durationUs: 1000 }, false],
];

for (const [name, opts, over, expected] of filterCases) {
  test(`shouldLog: ${name}`, (t) => {
    t.is(shouldLog(record(over), opts), expected);
  });
}
