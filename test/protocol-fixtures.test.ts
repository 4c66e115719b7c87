// Replays every packet real nginx 1.22 sent (fixtures/nginx/*.bin, recorded by
// scripts/capture-fixtures.ts) through PacketReader -- whole, split in two at every
// offset, and one byte at a time -- and checks the decoded request against what the
// client sent (fixtures/nginx/*.json), never against the decoder's own idea of it.

import test, { type ExecutionContext } from 'ava';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PacketReader, type PacketHeader, type ProtocolError, type ReaderLimits } from '../src/protocol/index.js';

const FIXTURES = fileURLToPath(new URL('../../fixtures/nginx/', import.meta.url));
/** nuwsgi's defaults (src/config/options.ts): the whole 16-bit block, 1000 vars. */
const LIMITS: ReaderLimits = { bufferSize: 65535, maxVars: 1000 };

interface FixtureMeta {
  name: string;
  serverPort: number;
  documentRoot: string;
  request: {
    method: string;
    target: string;
    httpVersion: string;
    headers: [string, string][];
  };
  expectedBodyLength: number;
  expectedBodyHex?: string;
  expectedBodySha256?: string;
}

interface Fixture {
  meta: FixtureMeta;
  bytes: Buffer;
}

const fixtures: Fixture[] = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.bin'))
  .sort()
  .map((f) => ({
    bytes: readFileSync(FIXTURES + f),
    meta: JSON.parse(readFileSync(FIXTURES + f.replace(/\.bin$/, '.json'), 'utf8')) as FixtureMeta,
  }));

/** Everything the reader reported for one replay. */
interface Observation {
  requests: number;
  pings: number;
  bodyEnds: number;
  errors: string[];
  /** Events out of order: body before the request, anything after the end. */
  misordered: string[];
  header?: PacketHeader;
  bodyLength?: number;
  vars: [string, string][];
  get: (key: string) => string | undefined;
  getAll: (key: string) => string[];
  body: Buffer;
  threw?: string;
}

function replay(chunks: Buffer[], limits: ReaderLimits = LIMITS): Observation {
  const body: Buffer[] = [];
  const obs: Observation = {
    requests: 0,
    pings: 0,
    bodyEnds: 0,
    errors: [],
    misordered: [],
    vars: [],
    get: () => undefined,
    getAll: () => [],
    body: Buffer.alloc(0),
  };
  const ended = () => obs.bodyEnds > 0 || obs.errors.length > 0 || obs.pings > 0;
  const reader = new PacketReader(limits, {
    onPing() {
      obs.pings++;
    },
    onRequest(header, vars, bodyLength) {
      if (ended() || obs.requests > 0) obs.misordered.push('request after end');
      obs.requests++;
      obs.header = { ...header };
      obs.bodyLength = bodyLength;
      obs.vars = vars.keys.map((k, i) => [k, vars.values[i]!]);
      obs.get = (k) => vars.get(k);
      obs.getAll = (k) => vars.getAll(k);
    },
    onBody(chunk) {
      if (obs.requests === 0 || ended()) obs.misordered.push('body outside the request');
      body.push(Buffer.from(chunk)); // copy: the reader may hand out views of our chunks
    },
    onBodyEnd() {
      if (obs.requests === 0 || ended()) obs.misordered.push('body end outside the request');
      obs.bodyEnds++;
    },
    onError(error: ProtocolError) {
      obs.errors.push(error.message);
    },
  });
  try {
    for (const c of chunks) reader.push(c);
  } catch (e) {
    obs.threw = String(e);
  }
  obs.body = Buffer.concat(body);
  return obs;
}

/** nginx's `$host`: the Host header without port, lower-cased; server_name when absent. */
function expectedHost(meta: FixtureMeta, serverName: string | undefined): string | undefined {
  const host = meta.request.headers.find(([k]) => k.toLowerCase() === 'host');
  return host ? host[1].replace(/:\d+$/, '').toLowerCase() : serverName;
}

/** What a client header becomes in the var block: HTTP_ + upper-case, '-' -> '_'. */
const varName = (header: string) => 'HTTP_' + header.toUpperCase().replace(/-/g, '_');

/** The comparable summary of one replay: equal to `expected()` when the decode is right. */
function summarize(obs: Observation, meta: FixtureMeta) {
  return {
    threw: obs.threw ?? null,
    events: { requests: obs.requests, pings: obs.pings, bodyEnds: obs.bodyEnds, errors: obs.errors, misordered: obs.misordered },
    header: obs.header ? { modifier1: obs.header.modifier1, modifier2: obs.header.modifier2 } : null,
    // datasize counts the var block only: header + block + body is the whole capture.
    packetLength: obs.header ? 4 + obs.header.datasize + (obs.bodyLength ?? 0) : null,
    bodyLength: obs.bodyLength ?? null,
    cgi: {
      REQUEST_METHOD: obs.getAll('REQUEST_METHOD'),
      REQUEST_URI: obs.getAll('REQUEST_URI'),
      QUERY_STRING: obs.getAll('QUERY_STRING'),
      SERVER_PROTOCOL: obs.getAll('SERVER_PROTOCOL'),
      SERVER_PORT: obs.getAll('SERVER_PORT'),
      DOCUMENT_ROOT: obs.getAll('DOCUMENT_ROOT'),
      CONTENT_TYPE: obs.getAll('CONTENT_TYPE'),
      CONTENT_LENGTH: obs.getAll('CONTENT_LENGTH'),
      // nginx sends $document_uri percent-decoded; the bytes (latin1 here) are UTF-8.
      PATH_INFO: obs.getAll('PATH_INFO').map((v) => Buffer.from(v, 'latin1').toString('utf8')),
    },
    HTTP_HOST: obs.getAll('HTTP_HOST'),
    // Every other header, in client order, repeats kept as repeated vars.
    headers: obs.vars.filter(([k]) => k.startsWith('HTTP_') && k !== 'HTTP_HOST'),
    body: {
      length: obs.body.length,
      [meta.expectedBodySha256 ? 'sha256' : 'hex']: meta.expectedBodySha256
        ? createHash('sha256').update(obs.body).digest('hex')
        : obs.body.toString('hex'),
    },
  };
}

function expected(meta: FixtureMeta, serverName: string | undefined): ReturnType<typeof summarize> {
  const { method, target, httpVersion, headers } = meta.request;
  const q = target.indexOf('?');
  const header = (name: string) => headers.find(([k]) => k.toLowerCase() === name)?.[1];
  const chunked = header('transfer-encoding') === 'chunked';
  return {
    threw: null,
    events: { requests: 1, pings: 0, bodyEnds: 1, errors: [], misordered: [] },
    header: { modifier1: 0, modifier2: 0 },
    packetLength: null, // set by the caller: the capture's length
    bodyLength: meta.expectedBodyLength,
    cgi: {
      REQUEST_METHOD: [method],
      REQUEST_URI: [target],
      QUERY_STRING: [q < 0 ? '' : target.slice(q + 1)],
      SERVER_PROTOCOL: [httpVersion],
      SERVER_PORT: [String(meta.serverPort)],
      DOCUMENT_ROOT: [meta.documentRoot],
      // nginx sends both empty when the client sent none (a GET); a chunked body gets its decoded length.
      CONTENT_TYPE: [header('content-type') ?? ''],
      CONTENT_LENGTH: [header('content-length') ?? (chunked ? String(meta.expectedBodyLength) : '')],
      PATH_INFO: [decodeURIComponent(q < 0 ? target : target.slice(0, q))],
    },
    HTTP_HOST: [expectedHost(meta, serverName)!],
    headers: headers.filter(([k]) => k.toLowerCase() !== 'host').map(([k, v]) => [varName(k), v] as [string, string]),
    body: {
      length: meta.expectedBodyLength,
      [meta.expectedBodySha256 ? 'sha256' : 'hex']: meta.expectedBodySha256 ?? meta.expectedBodyHex!,
    },
  };
}

type Split = (bytes: Buffer, fixture: Fixture) => Iterable<{ label: string; chunks: Buffer[] }>;

const whole: Split = function* (bytes) {
  yield { label: 'whole', chunks: [bytes] };
};

/**
 * Two pieces, at every offset from 0 to the end (empty first/last piece included). For a big
 * body the offsets past the var block are sampled: every byte of framing is covered, and a
 * prime stride plus the edges of the body cover the body path.
 */
const everyOffset: Split = function* (bytes, { meta }) {
  const blockEnd = bytes.length - meta.expectedBodyLength;
  const sampled = meta.expectedBodyLength > 4096;
  for (let k = 0; k <= bytes.length; k++) {
    const inBody = k > blockEnd + 16 && k < bytes.length - 16;
    if (sampled && inBody && k % 997 !== 0) continue;
    yield { label: `split at ${k}`, chunks: [bytes.subarray(0, k), bytes.subarray(k)] };
  }
};

const byteAtATime: Split = function* (bytes) {
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i++) chunks.push(bytes.subarray(i, i + 1));
  yield { label: 'one byte at a time', chunks };
};

function checkFixture(t: ExecutionContext, fixture: Fixture, split: Split): void {
  const { meta, bytes } = fixture;
  let want: ReturnType<typeof summarize> | undefined;
  let wantJson = '';
  let got: ReturnType<typeof summarize> | undefined;
  let label = '';
  for (const run of split(bytes, fixture)) {
    const obs = replay(run.chunks);
    label = run.label;
    if (!want) {
      want = expected(meta, obs.get('SERVER_NAME'));
      want.packetLength = bytes.length;
      wantJson = JSON.stringify(want);
    }
    got = summarize(obs, meta);
    // Cheap comparison per replay; ava's diff only for the first one that differs.
    if (JSON.stringify(got) !== wantJson) break;
  }
  t.deepEqual(got, want, `${meta.name}, ${label}`);
}

test('the fixture set is complete: every capture has its client description', (t) => {
  t.true(fixtures.length >= 9, `found ${fixtures.length} fixtures`);
  for (const { meta, bytes } of fixtures) {
    t.is(typeof meta.request.method, 'string', meta.name);
    t.true(bytes.length >= 4, meta.name);
  }
  t.deepEqual(
    fixtures.map((f) => f.meta.name).sort(),
    ['chunked-post', 'dup-headers', 'get-query', 'head', 'http10-no-host', 'long-header', 'post-10', 'post-64k', 'utf8-path'],
  );
});

const modes: [string, Split][] = [
  ['whole', whole],
  ['split in two at every offset', everyOffset],
  ['one byte at a time', byteAtATime],
];

for (const fixture of fixtures) {
  for (const [mode, split] of modes) {
    test(`nginx ${fixture.meta.name}: ${mode} decodes to what the client sent`, checkFixture, fixture, split);
  }
}

test('nginx dup-headers: repeated headers stay repeated vars, interleaved in client order', (t) => {
  const { bytes } = fixtures.find((f) => f.meta.name === 'dup-headers')!;
  const obs = replay([bytes]);
  t.deepEqual(obs.getAll('HTTP_X_CUSTOM'), ['one', 'two', 'three']);
  t.deepEqual(obs.getAll('HTTP_COOKIE'), ['a=1', 'b=2', 'c=3']);
  t.deepEqual(
    obs.vars.filter(([k]) => k === 'HTTP_X_CUSTOM' || k === 'HTTP_COOKIE'),
    [
      ['HTTP_X_CUSTOM', 'one'],
      ['HTTP_COOKIE', 'a=1'],
      ['HTTP_X_CUSTOM', 'two'],
      ['HTTP_COOKIE', 'b=2'],
      ['HTTP_X_CUSTOM', 'three'],
      ['HTTP_COOKIE', 'c=3'],
    ],
  );
  t.is(obs.get('HTTP_COOKIE'), 'c=3');
});

test('nginx chunked-post: the body after the block is de-chunked, CONTENT_LENGTH is its length, TE still forwarded', (t) => {
  const { bytes, meta } = fixtures.find((f) => f.meta.name === 'chunked-post')!;
  const obs = replay([bytes]);
  t.is(obs.body.toString('latin1'), 'hello world');
  t.is(obs.get('CONTENT_LENGTH'), '11');
  t.is(obs.get('HTTP_CONTENT_LENGTH'), undefined);
  t.is(obs.get('HTTP_TRANSFER_ENCODING'), 'chunked');
  t.is(obs.bodyLength, meta.expectedBodyLength);
});

test("nginx long-header: uWSGI's default buffer-size 4096 refuses it with 431 naming buffer-size", (t) => {
  const { bytes } = fixtures.find((f) => f.meta.name === 'long-header')!;
  const errors: ProtocolError[] = [];
  const reader = new PacketReader(
    { bufferSize: 4096, maxVars: LIMITS.maxVars },
    {
      onPing: () => t.fail('ping'),
      onRequest: () => t.fail('request'),
      onBody: () => t.fail('body'),
      onBodyEnd: () => t.fail('body end'),
      onError: (e) => errors.push(e),
    },
  );
  reader.push(bytes);
  t.is(errors.length, 1);
  t.is(errors[0]!.status, 431);
  t.is(errors[0]!.option, 'buffer-size');
  t.regex(errors[0]!.describe(), /20828 bytes exceeds buffer-size 4096.*\(see --buffer-size\)/);
});
