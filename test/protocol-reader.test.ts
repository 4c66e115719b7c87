// Malformed and edge-case input for src/protocol: hand-built packets (the builder
// below), checked by what the reader reports -- events, decoded values, error
// messages, statuses and options -- and that push() never throws.

import test from 'ava';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  decodeVars,
  PacketReader,
  parseContentLength,
  PONG,
  ProtocolError,
  type ReaderLimits,
} from '../src/protocol/index.js';
import { LIMITS, run } from './helpers/reader-run.js';


// ---------------------------------------------------------------- builder

type Bytes = string | Buffer | number[];
const bytes = (b: Bytes): Buffer => (typeof b === 'string' ? Buffer.from(b, 'latin1') : Buffer.from(b));
const u16 = (n: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n);
  return b;
};

/** One `key_len key val_len value` pair; the lengths can be overridden to lie. */
function pair(key: Bytes, value: Bytes, lie: { keyLength?: number; valueLength?: number } = {}): Buffer {
  const k = bytes(key);
  const v = bytes(value);
  return Buffer.concat([u16(lie.keyLength ?? k.length), k, u16(lie.valueLength ?? v.length), v]);
}

/** A var block from [key, value] pairs, plus raw bytes appended as they are. */
function block(vars: [Bytes, Bytes][], ...raw: Bytes[]): Buffer {
  return Buffer.concat([...vars.map(([k, v]) => pair(k, v)), ...raw.map(bytes)]);
}

/** Header + block + body; datasize defaults to the block's real length. */
function packet(varBlock: Buffer, opts: { modifier1?: number; modifier2?: number; datasize?: number; body?: Bytes } = {}): Buffer {
  const header = Buffer.from([opts.modifier1 ?? 0, 0, 0, opts.modifier2 ?? 0]);
  header.writeUInt16LE(opts.datasize ?? varBlock.length, 1);
  return Buffer.concat([header, varBlock, bytes(opts.body ?? '')]);
}

/** A minimal valid request block, with extra vars after the standard ones. */
const request = (...extra: [Bytes, Bytes][]): Buffer =>
  block([['REQUEST_METHOD', 'GET'], ['REQUEST_URI', '/'], ...extra]);

// ---------------------------------------------------------------- recorder


const whole = (b: Buffer): Buffer[] => [b];
const oneByOne = (b: Buffer): Buffer[] => Array.from({ length: b.length }, (_, i) => b.subarray(i, i + 1));
const splits = (b: Buffer): Buffer[][] => Array.from({ length: b.length + 1 }, (_, k) => [b.subarray(0, k), b.subarray(k)]);

/** Every way of feeding `b` that the tests use: whole, one byte at a time, and split in two anywhere. */
const feeds = (b: Buffer): [string, Buffer[]][] => [
  ['whole', whole(b)],
  ['one byte at a time', oneByOne(b)],
  ...splits(b).map((c, k): [string, Buffer[]] => [`split at ${k}`, c]),
];

// ---------------------------------------------------------------- malformed input: one error, nothing else

interface BadCase {
  name: string;
  input: Buffer;
  message: RegExp;
  status?: number;
  option?: string;
  limits?: ReaderLimits;
}

const BAD: BadCase[] = [
  {
    name: 'HTTP request sent to the uwsgi socket',
    input: Buffer.from('GET / HTTP/1.1\r\nHost: example.com\r\n\r\n'),
    // 'G' is modifier1 71; the hint names the option an operator actually needs.
    message: /^unsupported uwsgi modifier1 71 \(first bytes 47455420;.*--http-socket/,
  },
  {
    name: 'POST request sent to the uwsgi socket',
    input: Buffer.from('POST /x HTTP/1.1\r\n'),
    message: /^unsupported uwsgi modifier1 80 \(first bytes 504f5354;.*--http-socket/,
  },
  { name: 'modifier1 5 (PSGI)', input: packet(request(), { modifier1: 5 }), message: /^unsupported uwsgi modifier1 5 / },
  { name: 'modifier1 250', input: packet(request(), { modifier1: 250 }), message: /^unsupported uwsgi modifier1 250 / },
  { name: 'modifier1 1', input: packet(request(), { modifier1: 1 }), message: /^unsupported uwsgi modifier1 1 / },
  { name: 'modifier1 72 (an HTTP response)', input: Buffer.from('HTTP/1.1 200 OK\r\n'), message: /^unsupported uwsgi modifier1 72 / },
  { name: 'modifier1 101 (echo)', input: packet(request(), { modifier1: 101 }), message: /^unsupported uwsgi modifier1 101 / },
  { name: 'modifier1 111 (cache)', input: packet(request(), { modifier1: 111 }), message: /^unsupported uwsgi modifier1 111 / },
  { name: 'modifier1 255', input: packet(request(), { modifier1: 255 }), message: /^unsupported uwsgi modifier1 255 / },
  { name: 'modifier1 0 with datasize 0', input: packet(Buffer.alloc(0)), message: /^empty uwsgi request: the var block has size 0$/ },
  {
    name: 'key length past the end of the block',
    input: packet(block([['A', '1']], [0xff, 0xff], 'X_AFTER')),
    message: /^invalid uwsgi var block: a length field runs past the end of the 15-byte block$/,
  },
  {
    name: 'key length one past the end',
    input: packet(pair('KEY', 'v', { keyLength: 7 })),
    message: /^invalid uwsgi var block: a length field runs past the end/,
  },
  {
    name: 'value length past the end of the block',
    input: packet(block([['A', '1']], pair('B', 'xyz', { valueLength: 4 }))),
    message: /^invalid uwsgi var block: var 1 declares 1\+4 bytes past the end of the block$/,
  },
  {
    name: 'value length 65535 in a small block',
    input: packet(pair('B', 'xyz', { valueLength: 0xffff })),
    message: /^invalid uwsgi var block: var 0 declares 1\+65535 bytes past the end/,
  },
  { name: 'empty key', input: packet(block([['A', '1'], ['', 'x']])), message: /^invalid uwsgi var block: var 1 has an empty key$/ },
  { name: 'empty key and empty value', input: packet(block([['', '']])), message: /^invalid uwsgi var block: var 0 has an empty key$/ },
  { name: '1 trailing byte', input: packet(request(), { datasize: request().length + 1, body: [0x00] }), message: /^invalid uwsgi var block/ },
  { name: '1 trailing byte (in the block)', input: packet(block([['A', '1']], [0x05])), message: /^invalid uwsgi var block/ },
  { name: '2 trailing bytes (a key length, nothing after)', input: packet(block([['A', '1']], [0x01, 0x00])), message: /^invalid uwsgi var block/ },
  { name: '2 trailing zero bytes', input: packet(block([['A', '1']], [0x00, 0x00])), message: /^invalid uwsgi var block/ },
  {
    name: 'key and value length only, value missing',
    input: packet(block([['A', '1']], pair('K', '', { valueLength: 1 }))),
    message: /^invalid uwsgi var block: var 1 declares 1\+1 bytes past the end/,
  },
  {
    name: 'datasize over buffer-size',
    input: packet(request(), { datasize: 5000 }),
    limits: { bufferSize: 4096, maxVars: 1000 },
    message: /^uwsgi var block of 5000 bytes exceeds buffer-size 4096$/,
    status: 431,
    option: 'buffer-size',
  },
  {
    name: 'datasize one over buffer-size',
    input: packet(request(), { datasize: request().length }),
    limits: { bufferSize: request().length - 1, maxVars: 1000 },
    message: /exceeds buffer-size/,
    status: 431,
    option: 'buffer-size',
  },
  {
    // A ping client speaks uwsgi, not HTTP: no HTTP status to answer with.
    name: 'ping with a block over buffer-size',
    input: packet(request(), { modifier1: 100 }),
    limits: { bufferSize: 8, maxVars: 1000 },
    message: /exceeds buffer-size 8/,
    status: undefined,
    option: 'buffer-size',
  },
  {
    name: 'more vars than max-vars',
    input: packet(block(Array.from({ length: 11 }, (_, i): [string, string] => [`V${i}`, 'x']))),
    limits: { bufferSize: 65535, maxVars: 10 },
    message: /^too many uwsgi vars: 11 \(max 10\)$/,
    status: 431,
    option: 'max-vars',
  },
  ...['abc', '-5', '12abc', ' 5', '5 ', '+5', '0x10', '1e3', '1.0', '1234567890123456', 'Infinity', '\t5'].map(
    (value): BadCase => ({
      name: `CONTENT_LENGTH ${JSON.stringify(value)}`,
      input: packet(request(['CONTENT_LENGTH', value]), { body: 'hello' }),
      message: new RegExp(`^invalid CONTENT_LENGTH ${escape(JSON.stringify(value))}$`),
      status: 400,
    }),
  ),
];

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

for (const c of BAD) {
  test(`malformed: ${c.name} -> one error, no request, never throws`, (t) => {
    for (const [how, chunks] of [
      ['whole', whole(c.input)],
      ['one byte at a time', oneByOne(c.input)],
    ] as const) {
      const r = run(chunks, c.limits);
      t.deepEqual(r.thrown, [], how);
      t.deepEqual(r.names, ['error'], how);
      t.true(r.error instanceof ProtocolError, how);
      t.regex(r.error!.message, c.message, how);
      t.is(r.error!.status, c.status, how);
      t.is(r.error!.option, c.option, how);
      t.true(r.reader.finished, how);
    }
  });
}

test('malformed: every case, split in two at every offset, gives the same single error', (t) => {
  for (const c of BAD) {
    const want = run([c.input], c.limits).error!.message;
    for (const [how, chunks] of splits(c.input).map((ch, k) => [`split at ${k}`, ch] as const)) {
      const r = run(chunks, c.limits);
      if (r.thrown.length || r.names.join() !== 'error' || r.error!.message !== want) {
        t.fail(`${c.name}, ${how}: ${r.names.join()} ${r.thrown.join()} ${r.error?.message}`);
        return;
      }
    }
  }
  t.pass();
});

test('the describe() line names the option to change, when there is one', (t) => {
  const over = run([packet(request(), { datasize: 9000 })], { bufferSize: 4096, maxVars: 10 }).error!;
  t.is(over.describe(), 'uwsgi var block of 9000 bytes exceeds buffer-size 4096 (see --buffer-size)');
  t.is(over.name, 'ProtocolError');
  const bad = run([packet(block([['', 'x']]))]).error!;
  t.is(bad.describe(), bad.message);
  t.is(bad.status, undefined);
});

// ---------------------------------------------------------------- incomplete input: no events at all

test('truncated header: 0 to 3 bytes give no events at all, in any split', (t) => {
  const full = packet(request());
  for (let n = 0; n <= 3; n++) {
    for (const [how, chunks] of feeds(full.subarray(0, n))) {
      const r = run(chunks);
      t.deepEqual(r.names, [], `${n} bytes, ${how}`);
      t.deepEqual(r.thrown, []);
      t.false(r.reader.headerComplete);
      t.false(r.reader.finished);
    }
  }
});

test('truncated var block: header and part of the block give no events', (t) => {
  const full = packet(request(['CONTENT_LENGTH', '3']), { body: 'abc' });
  const blockEnd = full.length - 3;
  for (let n = 4; n < blockEnd; n++) {
    const r = run(oneByOne(full.subarray(0, n)));
    t.deepEqual(r.names, [], `${n} bytes`);
    t.false(r.reader.headerComplete);
  }
  // The last block byte completes the request; the body then is still awaited.
  const r = run([full.subarray(0, blockEnd)]);
  t.deepEqual(r.names, ['request']);
  t.true(r.reader.headerComplete);
  t.false(r.reader.finished);
  t.is(r.reader.remainingBody, 3);
});

test('a header over buffer-size fails on its 4 bytes, without waiting for the block', (t) => {
  const r = run([packet(request(), { datasize: 4097 }).subarray(0, 4)], { bufferSize: 4096, maxVars: 100 });
  t.deepEqual(r.names, ['error']);
  t.is(r.error!.status, 431);
});

// ---------------------------------------------------------------- limits at the edge

test('datasize exactly buffer-size is accepted', (t) => {
  const b = request();
  const r = run([packet(b)], { bufferSize: b.length, maxVars: 100 });
  t.deepEqual(r.names, ['request', 'end']);
});

test('a 65535-byte var block (the protocol maximum) is accepted', (t) => {
  const value = 'v'.repeat(0xffff - request().length - 5); // 5 = two lengths + a 1-byte key
  const big = Buffer.concat([request(), pair('Y', value)]);
  t.is(big.length, 0xffff);
  const r = run(oneByOne(packet(big)));
  t.deepEqual(r.names, ['request', 'end']);
  t.is(r.request!.vars.get('Y'), value);
});

test('exactly max-vars vars are accepted', (t) => {
  const vars = Array.from({ length: 10 }, (_, i): [string, string] => [`V${i}`, String(i)]);
  const r = run([packet(block(vars))], { bufferSize: 65535, maxVars: 10 });
  t.deepEqual(r.names, ['request', 'end']);
  t.is(r.request!.vars.size, 10);
});

// ---------------------------------------------------------------- CONTENT_LENGTH and the body

test('parseContentLength: plain digits only; empty or absent is 0', (t) => {
  const ok: [string | undefined, number][] = [
    [undefined, 0],
    ['', 0],
    ['0', 0],
    ['10', 10],
    ['007', 7],
    ['65536', 65536],
    ['999999999999999', 999999999999999],
  ];
  for (const [value, n] of ok) t.is(parseContentLength(value), n, String(value));
  for (const value of ['abc', '-5', '12abc', ' 5', '5\n', '1234567890123456']) {
    const e = t.throws(() => parseContentLength(value), { instanceOf: ProtocolError }, value);
    t.is(e?.status, 400);
  }
});

for (const [name, vars] of [
  ['absent', request()],
  ['empty', request(['CONTENT_TYPE', ''], ['CONTENT_LENGTH', ''])],
  ['0', request(['CONTENT_LENGTH', '0'])],
] as const) {
  test(`CONTENT_LENGTH ${name}: a 0-length body, onBodyEnd at once, later bytes ignored`, (t) => {
    for (const [how, chunks] of feeds(packet(vars, { body: 'stray bytes' }))) {
      const r = run(chunks);
      t.deepEqual(r.names, ['request', 'end'], how);
      t.is(r.request!.bodyLength, 0);
      t.is(r.body.length, 0);
      t.deepEqual(r.thrown, []);
      t.true(r.reader.finished);
    }
  });
}

test('the body is exactly CONTENT_LENGTH bytes; bytes after it (even a second packet) are ignored', (t) => {
  const second = packet(request(['CONTENT_LENGTH', '2']), { body: 'zz' });
  const input = Buffer.concat([packet(request(['CONTENT_LENGTH', '5']), { body: 'hello' }), Buffer.from('XYZ'), second]);
  for (const [how, chunks] of feeds(input)) {
    const r = run(chunks);
    t.deepEqual(r.names, ['request', 'body', 'end'], how);
    t.is(r.body.toString('latin1'), 'hello', how);
    t.is(r.events.filter((e) => e.type === 'request').length, 1, how);
  }
});

test('a body split across many pushes is delivered exactly, never more than bodyLength', (t) => {
  const body = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7) % 256));
  const input = packet(request(['CONTENT_LENGTH', String(body.length)]), { body: Buffer.concat([body, Buffer.from('after')]) });
  // Pieces of 1, 2, 3, ... bytes: every boundary lands somewhere different.
  const chunks: Buffer[] = [];
  for (let at = 0, size = 1; at < input.length; at += size, size++) chunks.push(input.subarray(at, at + size));
  const remaining: number[] = [];
  const events: string[] = [];
  let delivered = 0;
  const reader = new PacketReader(LIMITS, {
    onPing: () => events.push('ping'),
    onRequest: (_h, _v, n) => events.push(`request ${n}`),
    onBody: (c) => {
      delivered += c.length;
      events.push('body');
    },
    onBodyEnd: () => events.push('end'),
    onError: (e) => events.push(`error ${e.message}`),
  });
  for (const c of chunks) {
    reader.push(c);
    if (reader.headerComplete) remaining.push(reader.remainingBody);
    t.true(delivered <= body.length);
  }
  t.is(delivered, body.length);
  t.is(events[0], `request ${body.length}`);
  t.is(events.at(-1), 'end');
  t.is(events.filter((e) => e === 'end').length, 1);
  t.true(events.filter((e) => e === 'body').length > 50);
  // remainingBody only ever goes down, to 0.
  t.deepEqual([...remaining].sort((a, b) => b - a), remaining);
  t.is(remaining.at(-1), 0);
  t.true(run(chunks).body.equals(body));
});

test('body bytes in the same chunk as the header are delivered; the reader does not keep the chunk', (t) => {
  const r = run([packet(request(['CONTENT_LENGTH', '4']), { body: [0, 1, 0xfe, 0xff] })]);
  t.deepEqual(r.names, ['request', 'body', 'end']);
  t.deepEqual([...r.body], [0, 1, 0xfe, 0xff]);
});

test('a huge CONTENT_LENGTH is accepted and streamed: the request is reported before any body', (t) => {
  const r = run([packet(request(['CONTENT_LENGTH', '999999999999999']), { body: 'abc' })]);
  t.deepEqual(r.names, ['request', 'body']);
  t.is(r.request!.bodyLength, 999999999999999);
  t.is(r.reader.remainingBody, 999999999999999 - 3);
  t.false(r.reader.finished);
});

// ---------------------------------------------------------------- ping

test('modifier1 100, datasize 0: onPing, and the pong is 64 00 00 01', (t) => {
  for (const [how, chunks] of feeds(packet(Buffer.alloc(0), { modifier1: 100, body: 'ignored' }))) {
    const r = run(chunks);
    t.deepEqual(r.names, ['ping'], how);
    t.deepEqual(r.events[0], { type: 'ping', header: { modifier1: 100, datasize: 0, modifier2: 0 } });
    t.true(r.reader.finished);
  }
  t.deepEqual([...PONG], [0x64, 0x00, 0x00, 0x01]);
});

test('a ping with a var block: onPing only once the whole block is in', (t) => {
  const input = packet(block([['WARNING', 'x']]), { modifier1: 100 });
  for (let n = 0; n < input.length; n++) t.deepEqual(run(oneByOne(input.subarray(0, n))).names, [], `${n} bytes`);
  for (const [how, chunks] of feeds(input)) {
    const r = run(chunks);
    t.deepEqual(r.names, ['ping'], how);
    t.deepEqual(r.events[0], { type: 'ping', header: { modifier1: 100, datasize: input.length - 4, modifier2: 0 } });
  }
});

// ---------------------------------------------------------------- accepted modifiers

test('modifier1 30 is served like 0; modifier2 is passed on and otherwise ignored', (t) => {
  const r30 = run([packet(request(), { modifier1: 30 })]);
  t.deepEqual(r30.names, ['request', 'end']);
  t.is(r30.request!.header.modifier1, 30);
  const m2 = run([packet(request(), { modifier2: 9 })]);
  t.deepEqual(m2.names, ['request', 'end']);
  t.deepEqual(m2.request!.header, { modifier1: 0, datasize: request().length, modifier2: 9 });
});

// ---------------------------------------------------------------- decoded values

test('values with bytes 0x80-0xff decode as latin1, byte for byte', (t) => {
  const high = Buffer.from(Array.from({ length: 128 }, (_, i) => 0x80 + i));
  const key = Buffer.from([0x58, 0x5f, 0xff]); // "X_\xff"
  const r = run(oneByOne(packet(block([['HTTP_X_BIN', high], [key, [0x00, 0x01, 0xfe]]]))));
  const vars = r.request!.vars;
  const value = vars.get('HTTP_X_BIN')!;
  t.is(value.length, 128);
  t.deepEqual([...value].map((c) => c.charCodeAt(0)), [...high]);
  t.true(Buffer.from(value, 'latin1').equals(high));
  t.is(vars.get('X_\u00ff'), '\u0000\u0001\u00fe');
  // UTF-8 from nginx stays as its bytes: the caller decides how to read them.
  const utf8 = run([packet(block([['PATH_INFO', Buffer.from('/café/✓')]]))]).request!.vars.get('PATH_INFO')!;
  t.is(Buffer.from(utf8, 'latin1').toString('utf8'), '/café/✓');
});

test('empty values are allowed, first, middle and last', (t) => {
  const r = run([packet(block([['A', ''], ['B', 'b'], ['C', ''], ['D', '']]))]);
  t.deepEqual(r.names, ['request', 'end']);
  t.deepEqual(r.request!.vars.keys, ['A', 'B', 'C', 'D']);
  t.deepEqual(r.request!.vars.values, ['', 'b', '', '']);
  t.is(r.request!.vars.get('D'), '');
});

test('duplicate keys: get returns the last, getAll all in order, toObject the last', (t) => {
  const vars = run([
    packet(block([['HTTP_X_DUP', 'first'], ['REQUEST_METHOD', 'GET'], ['HTTP_X_DUP', 'second'], ['REQUEST_METHOD', 'POST'], ['HTTP_X_DUP', 'third']])),
  ]).request!.vars;
  t.is(vars.size, 5);
  t.is(vars.get('HTTP_X_DUP'), 'third');
  t.is(vars.get('REQUEST_METHOD'), 'POST');
  t.deepEqual(vars.getAll('HTTP_X_DUP'), ['first', 'second', 'third']);
  t.deepEqual(vars.getAll('REQUEST_METHOD'), ['GET', 'POST']);
  t.deepEqual(vars.toObject(), { HTTP_X_DUP: 'third', REQUEST_METHOD: 'POST' });
  t.is(vars.get('MISSING'), undefined);
  t.deepEqual(vars.getAll('MISSING'), []);
  // Keys are case-sensitive, as on the wire.
  t.is(vars.get('http_x_dup'), undefined);
});

test('toObject: keys such as __proto__ or constructor are plain data', (t) => {
  const vars = run([packet(block([['__proto__', 'x'], ['constructor', 'y'], ['A', 'z']]))]).request!.vars;
  t.is(vars.get('__proto__'), 'x');
  const o = vars.toObject();
  t.is(o['A'], 'z');
  t.is(o['constructor'], 'y');
});

test('decodeVars directly: strict, the same rules as through the reader', (t) => {
  t.deepEqual(decodeVars(block([['K', 'v']]), 10).toObject(), { K: 'v' });
  t.throws(() => decodeVars(block([['K', 'v']], [0]), 10), { instanceOf: ProtocolError, message: /invalid uwsgi var block/ });
  t.throws(() => decodeVars(block([['', 'v']]), 10), { instanceOf: ProtocolError, message: /empty key/ });
  t.throws(() => decodeVars(block([['A', '1'], ['B', '2']]), 1), { instanceOf: ProtocolError, message: /too many uwsgi vars: 2 \(max 1\)/ });
});

test('a block inside a larger buffer (pooled socket chunk) decodes only its own bytes', (t) => {
  const b = block([['K', 'value']]);
  const pool = Buffer.concat([Buffer.from([0x01, 0x00, 0x5a]), b, Buffer.from([0x09, 0x00])]);
  t.deepEqual(decodeVars(pool.subarray(3, 3 + b.length), 10).toObject(), { K: 'value' });
});

// ---------------------------------------------------------------- push() never throws

/** Deterministic pseudo-random bytes (mulberry32), so failures reproduce. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** A terminal event ends everything: nothing may follow an error, a ping or the body end. */
function wellFormed(names: string[]): boolean {
  const shapes = [/^$/, /^error$/, /^ping$/, /^request(,error)?$/, /^request(,body)?(,end)?$/];
  return shapes.some((s) => s.test(names.join(',')));
}

test('push() never throws and events stay well-formed: every byte of a real nginx packet mutated', (t) => {
  const fixture = readFileSync(fileURLToPath(new URL('../../fixtures/nginx/post-10.bin', import.meta.url)));
  let outcomes = 0;
  for (let i = 0; i < fixture.length; i++) {
    for (const v of [0x00, 0xff, fixture[i]! ^ 0x01, fixture[i]! ^ 0x80]) {
      const mutated = Buffer.from(fixture);
      mutated[i] = v;
      for (const chunks of [[mutated], oneByOne(mutated)]) {
        const r = run(chunks, { bufferSize: 4096, maxVars: 64 });
        if (r.thrown.length || !wellFormed(r.names)) {
          t.fail(`byte ${i} = ${v}: ${r.names.join(',')} ${r.thrown.join()}`);
          return;
        }
        outcomes++;
      }
    }
  }
  t.is(outcomes, fixture.length * 4 * 2);
});

test('push() never throws on random input, whole or in random pieces', (t) => {
  const next = random(0x5eed);
  for (let round = 0; round < 3000; round++) {
    const length = Math.floor(next() * 64);
    const input = Buffer.from(Array.from({ length }, () => Math.floor(next() * 256)));
    // Mostly valid-looking headers so the var-block decoder gets the random bytes too.
    if (length >= 4 && next() < 0.8) {
      input[0] = [0, 30, 100][Math.floor(next() * 3)]!;
      input.writeUInt16LE(Math.min(length - 4, Math.floor(next() * 80)), 1);
    }
    const chunks: Buffer[] = [];
    for (let at = 0; at < input.length; ) {
      const size = 1 + Math.floor(next() * 8);
      chunks.push(input.subarray(at, at + size));
      at += size;
    }
    for (const feed of [[input], chunks]) {
      const r = run(feed, { bufferSize: 60, maxVars: 8 });
      if (r.thrown.length || !wellFormed(r.names)) {
        t.fail(`round ${round} ${input.toString('hex')}: ${r.names.join(',')} ${r.thrown.join()}`);
        return;
      }
    }
  }
  t.pass();
});

test('pushing after the end (error, ping or body end) reports nothing more', (t) => {
  for (const first of [Buffer.from('GET / HTTP/1.1\r\n'), packet(Buffer.alloc(0), { modifier1: 100 }), packet(request())]) {
    const r = run([first, packet(request()), Buffer.from('more'), Buffer.alloc(0)]);
    t.true(r.names.filter((n) => n === 'request').length <= 1);
    t.true(wellFormed(r.names), r.names.join());
    t.deepEqual(r.thrown, []);
  }
});

test('empty chunks change nothing', (t) => {
  const input = packet(request(['CONTENT_LENGTH', '2']), { body: 'ok' });
  const chunks = oneByOne(input).flatMap((c) => [Buffer.alloc(0), c, Buffer.alloc(0)]);
  const r = run(chunks);
  t.deepEqual(r.names, ['request', 'body', 'end']);
  t.is(r.body.toString(), 'ok');
});
