// Property-based tests of src/protocol (fast-check): the packet reader fed random bytes, random
// var blocks, lying lengths and hostile CONTENT_LENGTH values, in random splits. Whatever comes
// in, push() never throws, the events come in a legal order, the body is never more than
// CONTENT_LENGTH and is exactly the bytes after the var block, no var reads past its block, and
// nothing is allocated from a length the reader has not checked against --buffer-size.
// fast-check prints the seed and the shrunk counterexample of a failure; FC_SEED=<seed> replays it.

import test from 'ava';
import fc from 'fast-check';
import { decodeVars, PacketReader, parseContentLength, ProtocolError, type ReaderLimits } from '../src/protocol/index.js';
import { LIMITS, run, type Run } from './helpers/reader-run.js';
import { oracleDecode } from './helpers/vars-oracle.js';

const RUNS = Number(process.env.FC_RUNS ?? 400);
const params = { numRuns: RUNS, ...(process.env.FC_SEED ? { seed: Number(process.env.FC_SEED) } : {}) };

// ---------------------------------------------------------------- building packets

const u16 = (n: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n & 0xffff);
  return b;
};

function encodeBlock(vars: [Buffer, Buffer][]): Buffer {
  return Buffer.concat(vars.flatMap(([k, v]) => [u16(k.length), k, u16(v.length), v]));
}

function packet(block: Buffer, body: Buffer, modifier1 = 0, datasize = block.length): Buffer {
  const header = Buffer.from([modifier1, 0, 0, 0]);
  header.writeUInt16LE(datasize & 0xffff, 1);
  return Buffer.concat([header, block, body]);
}

/** Cut `bytes` at the given points (any order, duplicates and out-of-range points allowed). */
function split(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let at = 0;
  for (const p of points) {
    out.push(bytes.subarray(at, p));
    at = p;
  }
  out.push(bytes.subarray(at));
  return out;
}

// ---------------------------------------------------------------- running the reader


/**
 * The invariants every run must keep, whatever the input (`input` is the whole byte string fed).
 * Returns a description of the first broken one, or undefined.
 */
function broken(r: Run, input: Buffer, limits: ReaderLimits = LIMITS): string | undefined {
  if (r.thrown.length > 0) return `push() threw: ${String(r.thrown[0])}`;
  // One outcome per connection: ping | error | request body* end?
  const shape = r.events.map((e) => e.type).filter((t, i, all) => t !== 'body' || all[i - 1] !== 'body').join(' ');
  if (!/^(|ping|error|request( body)?( end)?)$/.test(shape)) return `illegal event order: ${shape}`;
  if (r.error && !(r.error instanceof ProtocolError)) return `onError got a ${String(r.error)}`;
  if (r.error?.status !== undefined && ![400, 413, 431].includes(r.error.status)) return `unexpected status ${r.error.status}`;
  const req = r.request;
  if (!req) return r.body.length > 0 ? 'body without a request' : undefined;
  const { datasize } = req.header;
  if (datasize > limits.bufferSize) return `request accepted with datasize ${datasize} > buffer-size ${limits.bufferSize}`;
  // The vars come from the block and the block only: their encoded size is exactly datasize.
  let encoded = 0;
  for (let i = 0; i < req.vars.size; i++) encoded += 4 + Buffer.byteLength(req.vars.keys[i], 'latin1') + Buffer.byteLength(req.vars.values[i], 'latin1');
  if (encoded !== datasize) return `vars encode to ${encoded} bytes, the block is ${datasize}`;
  if (req.vars.size > limits.maxVars) return `${req.vars.size} vars accepted, max-vars ${limits.maxVars}`;
  if (req.vars.keys.some((k) => k.length === 0)) return 'an empty key was accepted';
  if (req.bodyLength !== parseContentLength(req.vars.get('CONTENT_LENGTH'))) return `bodyLength ${req.bodyLength} is not CONTENT_LENGTH`;
  // Never more than CONTENT_LENGTH, and exactly the bytes that follow the block.
  if (r.body.length > req.bodyLength) return `${r.body.length} body bytes delivered, CONTENT_LENGTH ${req.bodyLength}`;
  const expected = input.subarray(4 + datasize, 4 + datasize + req.bodyLength);
  if (!r.body.equals(expected.subarray(0, r.body.length))) return 'body bytes differ from the bytes after the var block';
  const ended = r.events.some((e) => e.type === 'end');
  if (ended !== (r.body.length === req.bodyLength && expected.length === req.bodyLength)) return `end ${ended} with ${r.body.length} of ${req.bodyLength} bytes`;
  if (r.body.length !== expected.length) return `${r.body.length} body bytes delivered, ${expected.length} were sent`;
  return undefined;
}

// ---------------------------------------------------------------- generators

const bytes = (max: number) => fc.uint8Array({ maxLength: max }).map((a) => Buffer.from(a));
const key = fc.uint8Array({ minLength: 1, maxLength: 40 }).map((a) => Buffer.from(a));
const value = fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a));
const cuts = fc.array(fc.nat(), { maxLength: 12 });

/** A CONTENT_LENGTH as a hostile peer would send it: digits, signs, spaces, huge, empty, junk. */
const contentLength = fc.oneof(
  fc.nat({ max: 5000 }).map(String),
  fc.constantFrom('', '0', '-1', '-0', '+5', ' 5', '5 ', '5\0', '0x10', '1e3', '12abc', 'NaN', 'Infinity', '999999999999999', '9999999999999999', '18446744073709551616', '00000000000000000001'),
  fc.string({ maxLength: 20 }),
  fc.bigInt({ min: 0n, max: 10n ** 20n }).map(String),
);

/** A var block in nginx's shape: method and URI, random vars, a CONTENT_LENGTH somewhere (or none). */
const requestVars = fc
  .tuple(
    fc.array(fc.tuple(key, value), { maxLength: 30 }),
    fc.option(contentLength, { nil: undefined }),
    fc.nat(),
  )
  .map(([vars, cl, at]) => {
    const all: [Buffer, Buffer][] = [[Buffer.from('REQUEST_METHOD'), Buffer.from('POST')], ...vars];
    if (cl !== undefined) all.splice(at % (all.length + 1), 0, [Buffer.from('CONTENT_LENGTH'), Buffer.from(cl, 'latin1')]);
    return all;
  });

/** Replace one 16-bit length field of an encoded block (key or value length of a random var). */
function lie(block: Buffer, vars: [Buffer, Buffer][], which: number, newLength: number): Buffer {
  if (vars.length === 0) return block;
  const i = which % (vars.length * 2);
  let at = 0;
  for (let v = 0; v < Math.floor(i / 2); v++) at += 4 + vars[v][0].length + vars[v][1].length;
  if (i % 2 === 1) at += 2 + vars[Math.floor(i / 2)][0].length;
  const out = Buffer.from(block);
  out.writeUInt16LE(newLength, at);
  return out;
}

// ---------------------------------------------------------------- properties

test('random bytes in random splits: push() never throws and every invariant holds', (t) => {
  fc.assert(
    fc.property(bytes(3000), cuts, (input, at) => {
      const why = broken(run(split(input, at)), input);
      if (why) throw new Error(why);
    }),
    { ...params, numRuns: RUNS * 2 },
  );
  t.pass();
});

test('random headers (any modifier1, datasize) over random blocks and bodies: invariants hold', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 0xffff }), bytes(2000), bytes(500), cuts, (m1, datasize, block, body, at) => {
      const input = packet(block, body, m1, datasize);
      const why = broken(run(split(input, at)), input);
      if (why) throw new Error(why);
    }),
    params,
  );
  t.pass();
});

test('well-formed var blocks round-trip in any split: the same vars in order, exactly CONTENT_LENGTH body bytes, bytes after it ignored', (t) => {
  fc.assert(
    fc.property(fc.array(fc.tuple(key, value), { maxLength: 40 }), bytes(4000), bytes(200), cuts, (extra, body, trailing, at) => {
      const vars: [Buffer, Buffer][] = [[Buffer.from('REQUEST_METHOD'), Buffer.from('PUT')], [Buffer.from('CONTENT_LENGTH'), Buffer.from(String(body.length))], ...extra];
      const block = encodeBlock(vars);
      fc.pre(block.length <= 0xffff);
      const input = packet(block, Buffer.concat([body, trailing]));
      const r = run(split(input, at));
      const why = broken(r, input);
      if (why) throw new Error(why);
      if (!r.request) throw new Error(`no request: ${r.error?.message}`);
      if (r.request.vars.size !== vars.length) throw new Error('var count differs');
      vars.forEach(([k, v], i) => {
        if (r.request!.vars.keys[i] !== k.toString('latin1') || r.request!.vars.values[i] !== v.toString('latin1')) throw new Error(`var ${i} differs`);
      });
      if (!r.body.equals(body)) throw new Error('body differs');
      if (r.events.at(-1)?.type !== 'end') throw new Error('no end');
    }),
    params,
  );
  t.pass();
});

test('one lying key or value length anywhere in a real block: never a throw, never a var read past the block', (t) => {
  fc.assert(
    fc.property(requestVars, fc.nat(), fc.integer({ min: 0, max: 0xffff }), bytes(300), cuts, (vars, which, newLength, body, at) => {
      const honest = encodeBlock(vars);
      fc.pre(honest.length <= 0xffff);
      const input = packet(lie(honest, vars, which, newLength), body);
      const why = broken(run(split(input, at)), input);
      if (why) throw new Error(why);
    }),
    params,
  );
  t.pass();
});

test('the declared datasize lies (shorter or longer than the block sent): invariants hold', (t) => {
  fc.assert(
    fc.property(requestVars, fc.integer({ min: -50, max: 50 }), bytes(300), cuts, (vars, delta, body, at) => {
      const block = encodeBlock(vars);
      const datasize = Math.min(0xffff, Math.max(0, block.length + delta));
      const input = packet(block, body, 0, datasize);
      const why = broken(run(split(input, at)), input);
      if (why) throw new Error(why);
    }),
    params,
  );
  t.pass();
});

test('hostile CONTENT_LENGTH values: plain digits (up to 15) or a 400, never a throw, never more body than declared', (t) => {
  fc.assert(
    fc.property(contentLength, bytes(2000), cuts, (cl, body, at) => {
      const block = encodeBlock([
        [Buffer.from('REQUEST_METHOD'), Buffer.from('POST')],
        [Buffer.from('CONTENT_LENGTH'), Buffer.from(cl, 'latin1')],
      ]);
      const input = packet(block, body);
      const r = run(split(input, at));
      const why = broken(r, input);
      if (why) throw new Error(why);
      const valid = cl === '' || /^[0-9]{1,15}$/.test(cl);
      if (valid && r.request?.bodyLength !== (cl === '' ? 0 : Number(cl))) throw new Error(`valid ${JSON.stringify(cl)} not accepted as ${cl}`);
      if (!valid && r.error?.status !== 400) throw new Error(`invalid ${JSON.stringify(cl)} gave ${r.error?.message ?? 'a request'}`);
    }),
    params,
  );
  t.pass();
});

test('--limit-post: a declared length above it is a 413 before any body byte, at or below it is served', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 1 << 20 }), fc.integer({ min: 0, max: 2 << 20 }), bytes(100), (limit, declared, body) => {
      const block = encodeBlock([
        [Buffer.from('REQUEST_METHOD'), Buffer.from('POST')],
        [Buffer.from('CONTENT_LENGTH'), Buffer.from(String(declared))],
      ]);
      const limits = { ...LIMITS, limitPost: limit };
      const input = packet(block, body);
      const r = run([input], limits);
      const why = broken(r, input, limits);
      if (why) throw new Error(why);
      if (declared > limit) {
        if (r.error?.status !== 413 || r.error.option !== 'limit-post' || r.events.length !== 1) throw new Error(`declared ${declared} > ${limit}: ${JSON.stringify(r.events.map((e) => e.type))}`);
      } else if (!r.request) throw new Error(`declared ${declared} <= ${limit} refused: ${r.error?.message}`);
    }),
    params,
  );
  t.pass();
});

test('--buffer-size and --max-vars hold for any limits: larger blocks are 431 before they are read, more vars are 431', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 4000 }), fc.integer({ min: 1, max: 40 }), requestVars, (bufferSize, maxVars, vars) => {
      const block = encodeBlock(vars);
      fc.pre(block.length <= 0xffff);
      const limits = { bufferSize, maxVars };
      const input = packet(block, Buffer.alloc(0));
      const r = run([input.subarray(0, 4)], limits);
      // The verdict on datasize comes with the 4-byte header alone: nothing of the block is awaited.
      if (block.length > bufferSize) {
        if (r.error?.status !== 431 || r.error.option !== 'buffer-size') throw new Error(`datasize ${block.length} > ${bufferSize} not refused on the header`);
        return;
      }
      const full = run([input], limits);
      const why = broken(full, input, limits);
      if (why) throw new Error(why);
      if (vars.length > maxVars && full.error?.option !== 'max-vars' && full.error?.status !== 400) throw new Error(`${vars.length} vars > ${maxVars} accepted`);
    }),
    params,
  );
  t.pass();
});

// ---------------------------------------------------------------- allocation

/**
 * Run `fn` while recording the size of every Buffer allocation made through the public
 * allocators (what the reader and binary-parser use): the largest one is returned.
 */
function largestAllocation(fn: () => void): number {
  const B = Buffer as unknown as Record<string, (...args: unknown[]) => Buffer>;
  const saved = { alloc: B.alloc, allocUnsafe: B.allocUnsafe, allocUnsafeSlow: B.allocUnsafeSlow, concat: B.concat };
  let largest = 0;
  const note = (n: unknown) => {
    if (typeof n === 'number' && n > largest) largest = n;
  };
  B.alloc = (...a) => (note(a[0]), saved.alloc.apply(Buffer, a));
  B.allocUnsafe = (...a) => (note(a[0]), saved.allocUnsafe.apply(Buffer, a));
  B.allocUnsafeSlow = (...a) => (note(a[0]), saved.allocUnsafeSlow.apply(Buffer, a));
  B.concat = (...a) => {
    const list = a[0] as Buffer[];
    note(typeof a[1] === 'number' ? a[1] : list.reduce((n, b) => n + b.length, 0));
    return saved.concat.apply(Buffer, a);
  };
  try {
    fn();
  } finally {
    Object.assign(B, saved);
  }
  return largest;
}

test('nothing is allocated from an unchecked length: any header, block and CONTENT_LENGTH, largest allocation <= the buffer-size bound', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 65535 }), fc.integer({ min: 0, max: 0xffff }), contentLength, bytes(200), cuts, (bufferSize, datasize, cl, tail, at) => {
      const block = encodeBlock([
        [Buffer.from('REQUEST_METHOD'), Buffer.from('POST')],
        [Buffer.from('CONTENT_LENGTH'), Buffer.from(cl, 'latin1')],
      ]);
      const input = packet(Buffer.concat([block, tail]), tail, 0, datasize);
      const chunks = split(input, at);
      const quiet = { onPing() {}, onRequest() {}, onBody() {}, onBodyEnd() {}, onError() {} };
      const reader = new PacketReader({ bufferSize, maxVars: 1000 }, quiet);
      const largest = largestAllocation(() => chunks.forEach((c) => reader.push(c)));
      // The only buffers the reader builds are the 4-byte header and the var block (when split
      // across reads), the block only once datasize has been checked.
      if (largest > Math.max(4, Math.min(bufferSize, datasize))) throw new Error(`allocated ${largest} bytes (buffer-size ${bufferSize}, datasize ${datasize})`);
    }),
    params,
  );
  t.pass();
});

test('CONTENT_LENGTH 999999999999999 and 64 MiB of body pushed through: no allocation beyond the block, external memory flat', (t) => {
  const block = encodeBlock([
    [Buffer.from('REQUEST_METHOD'), Buffer.from('POST')],
    [Buffer.from('CONTENT_LENGTH'), Buffer.from('999999999999999')],
  ]);
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  let delivered = 0;
  let bodyLength = 0;
  const reader = new PacketReader(LIMITS, {
    onPing: () => t.fail('ping'),
    onRequest: (_h, _v, n) => (bodyLength = n),
    onBody: (c) => (delivered += c.length),
    onBodyEnd: () => t.fail('end'),
    onError: (e) => t.fail(e.message),
  });
  const head = packet(block, Buffer.alloc(0));
  const before = process.memoryUsage().arrayBuffers;
  const largest = largestAllocation(() => {
    reader.push(head);
    for (let i = 0; i < 1024; i++) reader.push(chunk);
  });
  const grown = process.memoryUsage().arrayBuffers - before;
  t.is(bodyLength, 999999999999999);
  t.is(delivered, 64 * 1024 * 1024);
  t.is(reader.remainingBody, 999999999999999 - 64 * 1024 * 1024);
  t.true(largest <= block.length, `largest allocation ${largest}`);
  t.true(grown < 8 * 1024 * 1024, `external memory grew ${grown} bytes`);
});

test('decodeVars on a block that is a view into a larger buffer never reads the bytes after the view', (t) => {
  fc.assert(
    fc.property(requestVars, fc.nat(), fc.integer({ min: 0, max: 0xffff }), (vars, which, newLength) => {
      const block = lie(encodeBlock(vars), vars, which, newLength);
      fc.pre(block.length <= 0xffff);
      // The block sits in a larger buffer, followed by bytes no var may contain.
      const marker = 0xfe;
      const backing = Buffer.concat([block, Buffer.alloc(1024, marker)]);
      const view = backing.subarray(0, block.length);
      try {
        const decoded = decodeVars(view, 1000);
        let size = 0;
        for (let i = 0; i < decoded.size; i++) size += 4 + decoded.keys[i].length + decoded.values[i].length;
        if (size !== block.length) throw new Error(`decoded ${size} bytes from a ${block.length}-byte view`);
      } catch (error) {
        if (!(error instanceof ProtocolError)) throw error;
      }
    }),
    params,
  );
  t.pass();
});

test('decodeVars decodes and refuses exactly as binary-parser reads the format: random, lying and truncated blocks, any max-vars', (t) => {
  const same = (block: Buffer, maxVars: number) => {
    const expected = oracleDecode(block, maxVars);
    let actual: ReturnType<typeof oracleDecode>;
    try {
      const v = decodeVars(block, maxVars);
      actual = { keys: [...v.keys], values: [...v.values] };
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      actual = { error: error.message };
    }
    if (JSON.stringify(actual) !== JSON.stringify(expected)) throw new Error(`decodeVars ${JSON.stringify(actual)} vs binary-parser ${JSON.stringify(expected)}`);
  };
  fc.assert(
    fc.property(requestVars, fc.nat(), fc.integer({ min: 0, max: 0xffff }), fc.nat(), fc.integer({ min: 1, max: 40 }), (vars, which, newLength, cut, maxVars) => {
      const honest = encodeBlock(vars);
      fc.pre(honest.length <= 0xffff);
      same(honest, maxVars);
      const lying = lie(honest, vars, which, newLength);
      same(lying, maxVars);
      same(lying.subarray(0, cut % (lying.length + 1)), maxVars);
    }),
    params,
  );
  fc.assert(
    fc.property(bytes(200), fc.integer({ min: 1, max: 40 }), (block, maxVars) => same(block, maxVars)),
    params,
  );
  t.pass();
});
