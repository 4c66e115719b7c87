// Raw-socket fuzzing of a running server: 3000 mutations of the real nginx packets in
// fixtures/nginx/*.bin (bit flips, overwritten, inserted and deleted bytes, truncation, lying
// datasize and var lengths, hostile CONTENT_LENGTH values, thousands of tiny vars, other
// modifiers, pipelined packets and garbage after them) are written to the uwsgi socket of the
// CLI server, whole or in random pieces, then half-closed, left open or reset. Afterwards the
// server must still serve correctly through nginx, with the same worker processes (no DAMN,
// no uncaught exception), its fds back to where they were and its memory bounded.
// The mutations come from a seeded generator: FUZZ_SEED=<seed> replays a run, FUZZ_COUNT=<n>
// changes its size.

import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnedWorkers } from './helpers/lifecycle.js';
import { httpRequest, startNginx, type NginxInstance } from './helpers/nginx.js';
import { fdCount, rss, until } from './helpers/hardening.js';
import { startServer, type ServerInstance } from './helpers/server.js';

const COUNT = Number(process.env.FUZZ_COUNT ?? 3000);
const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const CONCURRENCY = 48;
const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../fixtures/nginx');

let server: ServerInstance;
let nginx: NginxInstance;

test.before(async () => {
  server = await startServer({ app: 'hard-app.mjs', args: ['--processes', '2', '--socket-timeout', '1', '--disable-logging'] });
  nginx = await startNginx({ upstream: server.upstream });
});

test.after.always(async () => {
  await nginx?.stop();
  await server?.stop('SIGTERM');
});

// ---- a seeded generator (mulberry32) -----------------------------------------------------------

function generator(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  return {
    int,
    pick: <T>(items: readonly T[]): T => items[int(items.length)],
    bytes: (n: number) => Buffer.from(Array.from({ length: n }, () => int(256))),
    chance: (p: number) => next() < p,
  };
}
type Rng = ReturnType<typeof generator>;

// ---- packets -------------------------------------------------------------------------------------

interface Parsed {
  modifier1: number;
  modifier2: number;
  vars: [Buffer, Buffer][];
  body: Buffer;
}

function parse(packet: Buffer): Parsed {
  const datasize = packet.readUInt16LE(1);
  const vars: [Buffer, Buffer][] = [];
  for (let at = 4; at < 4 + datasize; ) {
    const kl = packet.readUInt16LE(at);
    const key = packet.subarray(at + 2, at + 2 + kl);
    const vl = packet.readUInt16LE(at + 2 + kl);
    vars.push([key, packet.subarray(at + 4 + kl, at + 4 + kl + vl)]);
    at += 4 + kl + vl;
  }
  return { modifier1: packet[0], modifier2: packet[3], vars, body: packet.subarray(4 + datasize) };
}

function encode(p: Parsed): Buffer {
  const block = Buffer.concat(
    p.vars.flatMap(([k, v]) => {
      const kl = Buffer.alloc(2);
      kl.writeUInt16LE(k.length & 0xffff);
      const vl = Buffer.alloc(2);
      vl.writeUInt16LE(v.length & 0xffff);
      return [kl, k, vl, v];
    }),
  );
  const header = Buffer.from([p.modifier1, 0, 0, p.modifier2]);
  header.writeUInt16LE(block.length & 0xffff, 1);
  return Buffer.concat([header, block, p.body]);
}

const HOSTILE_LENGTHS = ['', '-1', '0', '1', '99999999', '999999999999999', '18446744073709551616', 'abc', '12abc', ' 10', '0x10', '1e3', '+10', '\u0000', '10\r\n'];

/** The mutators: each takes an honest packet and returns the bytes to send. */
const MUTATORS: [string, (p: Buffer, r: Rng) => Buffer][] = [
  ['flip bits', (p, r) => {
    const out = Buffer.from(p);
    for (let i = 1 + r.int(8); i > 0; i--) out[r.int(out.length)] ^= 1 << r.int(8);
    return out;
  }],
  ['overwrite bytes', (p, r) => {
    const out = Buffer.from(p);
    for (let i = 1 + r.int(16); i > 0; i--) out[r.int(out.length)] = r.int(256);
    return out;
  }],
  ['overwrite the header', (p, r) => Buffer.concat([r.bytes(4), p.subarray(4)])],
  ['truncate', (p, r) => p.subarray(0, r.int(p.length))],
  ['insert bytes', (p, r) => {
    const at = r.int(p.length + 1);
    return Buffer.concat([p.subarray(0, at), r.bytes(1 + r.int(64)), p.subarray(at)]);
  }],
  ['delete a range', (p, r) => {
    const at = r.int(p.length);
    return Buffer.concat([p.subarray(0, at), p.subarray(at + 1 + r.int(64))]);
  }],
  ['lying datasize', (p, r) => {
    const out = Buffer.from(p);
    const size = out.readUInt16LE(1);
    out.writeUInt16LE(r.chance(0.5) ? r.int(0x10000) : Math.max(0, Math.min(0xffff, size + r.int(21) - 10)), 1);
    return out;
  }],
  ['lying var length', (p, r) => {
    const parsed = parse(p);
    const out = Buffer.from(p);
    // Walk to a random var and rewrite its key or value length.
    let at = 4;
    const target = r.int(parsed.vars.length);
    for (let i = 0; i < target; i++) at += 4 + parsed.vars[i][0].length + parsed.vars[i][1].length;
    if (r.chance(0.5)) at += 2 + parsed.vars[target][0].length;
    out.writeUInt16LE(r.chance(0.3) ? 0 : r.chance(0.5) ? 0xffff : r.int(0x10000), at);
    return out;
  }],
  ['hostile CONTENT_LENGTH', (p, r) => {
    const parsed = parse(p);
    const value = Buffer.from(r.pick(HOSTILE_LENGTHS), 'latin1');
    const i = parsed.vars.findIndex(([k]) => k.toString() === 'CONTENT_LENGTH');
    if (i >= 0) parsed.vars[i] = [parsed.vars[i][0], value];
    else parsed.vars.push([Buffer.from('CONTENT_LENGTH'), value]);
    if (r.chance(0.5)) parsed.body = Buffer.concat([parsed.body, r.bytes(r.int(200))]);
    return encode(parsed);
  }],
  ['duplicate and empty keys', (p, r) => {
    const parsed = parse(p);
    for (let i = 1 + r.int(5); i > 0; i--) {
      const [k, v] = r.pick(parsed.vars);
      parsed.vars.splice(r.int(parsed.vars.length + 1), 0, [r.chance(0.2) ? Buffer.alloc(0) : k, r.chance(0.5) ? v : r.bytes(r.int(40))]);
    }
    return encode(parsed);
  }],
  ['thousands of tiny vars', (p, r) => {
    const parsed = parse(p);
    let size = encode(parsed).length;
    for (let i = 500 + r.int(12_000); i > 0 && size + 5 < 0xffff; i--, size += 5) parsed.vars.push([Buffer.from([0x41 + (i % 26)]), Buffer.alloc(0)]);
    return encode(parsed);
  }],
  ['binary keys and values', (p, r) => {
    const parsed = parse(p);
    for (let i = 1 + r.int(10); i > 0; i--) parsed.vars.push([r.bytes(1 + r.int(30)), r.bytes(r.int(300))]);
    return encode(parsed);
  }],
  ['no REQUEST_METHOD', (p) => {
    const parsed = parse(p);
    parsed.vars = parsed.vars.filter(([k]) => k.toString() !== 'REQUEST_METHOD');
    return encode(parsed);
  }],
  ['another modifier', (p, r) => {
    const out = Buffer.from(p);
    out[0] = r.pick([1, 5, 30, 72, 100, 255, r.int(256)]);
    out[3] = r.int(256);
    return out;
  }],
  ['pipelined packets and garbage after', (p, r) => Buffer.concat([p, r.chance(0.5) ? p : r.bytes(r.int(500)), r.chance(0.5) ? p : Buffer.alloc(0)])],
  ['pure noise', (_p, r) => r.bytes(1 + r.int(2000))],
];

type Delivery = 'whole, half-close' | 'pieces, half-close' | 'whole, left open' | 'pieces, then reset';

interface Outcome {
  status: string;
  hung?: boolean;
}

/** Send one fuzzed packet; resolve with what came back once the server closed (bounded). */
function exchange(bytes: Buffer, delivery: Delivery, r: Rng): Promise<Outcome> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const sock = net.connect({ path: server.socket });
    let finished = false;
    const finish = (outcome: Outcome) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(outcome);
    };
    // socket-timeout is 1 s, linger 5 s: 10 s without a close is a hang.
    const timer = setTimeout(() => finish({ status: 'hang', hung: true }), 10_000);
    sock.on('connect', async () => {
      if (delivery.startsWith('pieces')) {
        let at = 0;
        while (at < bytes.length && !sock.destroyed) {
          const n = 1 + r.int(Math.max(1, Math.ceil(bytes.length / 3)));
          sock.write(bytes.subarray(at, at + n));
          at += n;
          await new Promise((res) => setTimeout(res, r.int(3)));
        }
      } else sock.write(bytes);
      if (delivery === 'pieces, then reset') return finish({ status: 'reset by us' });
      if (delivery.endsWith('half-close')) sock.end();
    });
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', () => {});
    sock.on('close', () => {
      const reply = Buffer.concat(chunks);
      const m = /^HTTP\/1\.1 (\d{3}) /.exec(reply.subarray(0, 16).toString('latin1'));
      finish({ status: m ? m[1] : reply.length > 0 ? `${reply.length} bytes` : 'closed' });
    });
  });
}

test.serial(`${COUNT} mutated nginx packets on the raw socket: no crash, no hang, no leak, and the server still serves correctly`, async (t) => {
  const packets = readdirSync(FIXTURES)
    .filter((f) => f.endsWith('.bin'))
    .map((f) => readFileSync(path.join(FIXTURES, f)));
  t.true(packets.length >= 8, 'the nginx captures are there');
  const workers = spawnedWorkers(server.output()).map((w) => w.pid);
  const fdsBefore = workers.map((pid) => fdCount(pid)!);
  const rssBefore = workers.map((pid) => rss(pid)!);
  t.log(`seed ${SEED} (FUZZ_SEED=${SEED} replays this run)`);

  const r = generator(SEED);
  const outcomes = new Map<string, number>();
  const hangs: string[] = [];
  let next = 0;
  const runner = async () => {
    while (next < COUNT) {
      const i = next++;
      const [name, mutate] = r.pick(MUTATORS);
      const honest = r.pick(packets);
      const bytes = mutate(honest, r);
      const delivery: Delivery = r.chance(0.08) ? 'whole, left open' : r.chance(0.08) ? 'pieces, then reset' : r.chance(0.3) ? 'pieces, half-close' : 'whole, half-close';
      const outcome = await exchange(bytes, delivery, r);
      outcomes.set(outcome.status, (outcomes.get(outcome.status) ?? 0) + 1);
      if (outcome.hung) hangs.push(`#${i} ${name} (${delivery}): ${bytes.subarray(0, 48).toString('hex')}`);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, runner));
  t.log(`outcomes: ${JSON.stringify(Object.fromEntries([...outcomes].sort((a, b) => b[1] - a[1])))}`);
  t.deepEqual(hangs.slice(0, 5), [], `${hangs.length} exchanges were neither answered nor closed within 10 s`);

  // Same workers, nothing crashed.
  const log = server.output();
  t.deepEqual(spawnedWorkers(log).map((w) => w.pid), workers, 'no worker died or was replaced');
  t.notRegex(log, /DAMN|uncaught exception|unhandled promise rejection|internal error/);

  // Still serving correctly through nginx: GETs and a body that must arrive intact.
  for (let n = 0; n < 10; n++) {
    const res = await httpRequest({ method: 'GET', url: `${nginx.baseUrl}/?n=${n}`, timeoutMs: 15_000 });
    t.is(res.status, 200);
    t.regex(res.body.toString(), new RegExp(`^n=${n} pid=(${workers.join('|')})$`));
  }
  const body = randomBytes(3 * 1024 * 1024);
  const posted = await httpRequest({ method: 'POST', url: `${nginx.baseUrl}/body?n=post`, body, timeoutMs: 30_000 });
  t.is(posted.status, 200);
  t.is((JSON.parse(posted.body.toString()) as { sha256: string }).sha256, createHash('sha256').update(body).digest('hex'));
  t.notRegex(nginx.errorLog(), /reset by peer|prematurely closed|upstream timed out/);

  // Nothing left behind: fds back to where they were, memory bounded.
  await until(() => workers.every((pid, i) => fdCount(pid)! <= fdsBefore[i] + 4), `worker fds back near ${fdsBefore} (now ${workers.map(fdCount)})`, 20_000);
  const grown = workers.map((pid, i) => rss(pid)! - rssBefore[i]);
  t.log(`worker RSS growth: ${grown.map((g) => (g / 2 ** 20).toFixed(1)).join(', ')} MiB`);
  t.true(grown.every((g) => g < 64 * 2 ** 20), 'worker memory bounded');
});
