// The native fast path (native/src/acceptor.c) on its own, through its binding: accept, first
// read, write, end, watch, release, close, against real unix socket clients. Behaviour only
// (bytes, events, counters), never durations. The addon is built by `npm install`; when it is
// missing every test here fails, naming the command that builds it.

import test, { type ExecutionContext } from 'ava';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { ADDON_PATH, loadNative, type Acceptor, type AcceptorHandlers, type AcceptorOptions, type NativeBinding } from '../src/native/binding.js';
import { uwsgiPacket } from './helpers/uwsgi-packet.js';

// The binding's types and loader are the ones nuwsgi itself uses (src/native/binding.ts).
type Callbacks = AcceptorHandlers;
type Options = AcceptorOptions;
type Binding = NativeBinding;
const { binding, error: loadError } = loadNative();

/** The binding, or a failure naming the build command: a missing addon is never a silent skip. */
function addon(): Binding {
  if (binding) return binding;
  throw new Error(`the native addon is not built (${loadError}); run \`npm run build:native\`${process.env.CI ? ' in CI before the tests' : ''} (needs a C compiler and node-gyp)`);
}

const { EBADF, EPIPE, EBUSY, ECONNRESET } = os.constants.errno;
const RESPONSE = Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n\r\nHello, World!\n');
const PACKET = uwsgiPacket([
  ['REQUEST_METHOD', 'GET'],
  ['PATH_INFO', '/hello'],
  ['SERVER_PROTOCOL', 'HTTP/1.1'],
]);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- a listening socket and clients

interface RawHandle {
  fd: number;
  close(cb?: () => void): void;
}
const createServerHandle = (net as unknown as { _createServerHandle(a: string, port: number, addressType: number): RawHandle | number })._createServerHandle;

/** A bound unix socket that nothing polls (as the master binds it); the acceptor listens on it. */
function bound(t: ExecutionContext): { path: string; fd: number } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nuwsgi-native-'));
  const sock = path.join(dir, 's.sock');
  const handle = createServerHandle(sock, -1, -1);
  if (typeof handle === 'number') throw new Error(`bind ${sock}: ${handle}`);
  t.teardown(() => {
    handle.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { path: sock, fd: handle.fd };
}

/** Every callback recorded in order; next() hands out each matching event once, oldest first. */
class Recorder implements Callbacks {
  events: [string, number, unknown?][] = [];
  private unclaimed: [string, number, unknown?][] = [];
  private waiters: { match: (e: [string, number, unknown?]) => boolean; resolve: (e: [string, number, unknown?]) => void }[] = [];
  /** keep: false records nothing (a load test must not measure its own log). */
  constructor(
    private readonly handlers: Partial<Callbacks> = {},
    private readonly keep = true,
  ) {}
  private record(e: [string, number, unknown?]): void {
    if (!this.keep) return;
    this.events.push(e);
    const waiter = this.waiters.findIndex((w) => w.match(e));
    if (waiter >= 0) this.waiters.splice(waiter, 1)[0].resolve(e);
    else this.unclaimed.push(e);
  }
  next(name: string, id?: number): Promise<[string, number, unknown?]> {
    const match = (e: [string, number, unknown?]) => e[0] === name && (id === undefined || e[1] === id);
    const seen = this.unclaimed.findIndex(match);
    if (seen >= 0) return Promise.resolve(this.unclaimed.splice(seen, 1)[0]);
    return new Promise((resolve) => this.waiters.push({ match, resolve }));
  }
  /** The next of several kinds of event for one id. */
  nextOf(names: string[], id: number): Promise<[string, number, unknown?]> {
    const match = (e: [string, number, unknown?]) => names.includes(e[0]) && e[1] === id;
    const seen = this.unclaimed.findIndex(match);
    if (seen >= 0) return Promise.resolve(this.unclaimed.splice(seen, 1)[0]);
    return new Promise((resolve) => this.waiters.push({ match, resolve }));
  }
  onConnection(id: number, data: Buffer | number, offset?: number): void {
    this.record(['connection', id, typeof data === 'number' ? [data, offset] : data]);
    this.handlers.onConnection?.(id, data);
  }
  onWritable(id: number): void {
    this.record(['writable', id]);
    this.handlers.onWritable?.(id);
  }
  onPeerClose(id: number, errno: number): void {
    this.record(['peerClose', id, errno]);
    this.handlers.onPeerClose?.(id, errno);
  }
  onClosed(id: number): void {
    this.record(['closed', id]);
    this.handlers.onClosed?.(id);
  }
}

/** Connects, sends `payload`, and collects everything until EOF. */
function exchange(sock: string, payload: Buffer | undefined): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const c = net.connect({ path: sock }, () => payload && c.write(payload));
    c.on('data', (d) => chunks.push(d));
    c.on('end', () => resolve(Buffer.concat(chunks)));
    c.on('error', reject);
  });
}

/** An acceptor that answers every request with RESPONSE and end(), counting what write/end said. */
function responder(t: ExecutionContext, options: Options = {}, keep = true) {
  const b = addon();
  const { path: sock, fd } = bound(t);
  const outcome = { flushed: 0, closedNow: 0, other: 0, sizes: new Set<number>() };
  let acc: Acceptor;
  const rec = new Recorder({
    onConnection(id, data) {
      if (outcome.sizes.size < 8) outcome.sizes.add(typeof data === 'number' ? data : data.length);
      const queued = b.write(acc, id, RESPONSE);
      const closed = b.end(acc, id);
      if (queued === 0) outcome.flushed++;
      if (closed) outcome.closedNow++;
      if (queued !== 0 || !closed) outcome.other++;
    },
  }, keep);
  acc = b.createAcceptor(fd, rec, { backlog: 511, ...options });
  t.teardown(() => b.close(acc));
  return { b, acc, sock, fd, rec, outcome };
}

/** Runs `total` exchanges, `parallel` at a time. */
async function many(sock: string, total: number, parallel: number): Promise<Buffer[]> {
  const replies: Buffer[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < total) {
        next++;
        replies.push(await exchange(sock, PACKET));
      }
    }),
  );
  return replies;
}

// ---------------------------------------------------------------- the fast path

test('a packet arriving whole is delivered as exactly its bytes; a small response is written and closed synchronously', async (t) => {
  const { sock, rec, outcome, b, acc } = responder(t);
  const reply = await exchange(sock, PACKET);
  t.deepEqual(reply, RESPONSE, 'the client got the response bytes, then EOF');
  const [, , data] = await rec.next('connection');
  t.deepEqual(data, PACKET);
  t.deepEqual(outcome, { flushed: 1, closedNow: 1, other: 0, sizes: new Set([PACKET.length]) });
  t.deepEqual(rec.events.map((e) => e[0]), ['connection'], 'no callback besides onConnection');
  t.like(b.stats(acc), { accepted: 1, open: 0, dropped: 0 });
});

test('a packet with a body and an array of buffers written with writev', async (t) => {
  const b = addon();
  const { path: sock, fd } = bound(t);
  const packet = uwsgiPacket([['REQUEST_METHOD', 'POST'], ['CONTENT_LENGTH', '5']], Buffer.from('hello'));
  let acc: Acceptor;
  const parts = [Buffer.from('HTTP/1.1 200 OK\r\n'), Buffer.from('Content-Length: 2\r\n\r\n'), new Uint8Array([0x6f, 0x6b])];
  const rec = new Recorder({
    onConnection(id) {
      t.is(b.write(acc, id, parts), 0);
      t.true(b.end(acc, id));
    },
  });
  acc = b.createAcceptor(fd, rec, { backlog: 16 });
  t.teardown(() => b.close(acc));
  const reply = await exchange(sock, packet);
  t.is(reply.toString(), 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  t.deepEqual((await rec.next('connection'))[2], packet);
});

test('setPool: a header block alone is copied into the pool as (length, offset); body bytes, or a block that does not fit, get a Buffer of their own', async (t) => {
  const { b, acc, sock, rec } = responder(t);
  const withBody = uwsgiPacket([['REQUEST_METHOD', 'POST'], ['CONTENT_LENGTH', '5']], Buffer.from('hello'));
  const slot = (PACKET.length + 7) & ~7; // slices start 8-byte aligned
  const pool = Buffer.alloc(2 * slot + PACKET.length - 1); // two header blocks fit, a third does not
  b.setPool(acc, pool);
  const delivered = async (packet: Buffer) => {
    t.deepEqual(await exchange(sock, packet), RESPONSE);
    return (await rec.next('connection'))[2];
  };
  t.deepEqual(await delivered(PACKET), [PACKET.length, 0]);
  t.deepEqual(pool.subarray(0, PACKET.length), PACKET, 'the bytes are in the pool');
  t.deepEqual(await delivered(PACKET), [PACKET.length, slot]);
  t.deepEqual(pool.subarray(slot, slot + PACKET.length), PACKET);
  t.deepEqual(await delivered(withBody), withBody, 'a body the app may keep never lands in the shared pool');
  t.deepEqual(await delivered(PACKET), PACKET, 'no room left: a Buffer of its own');
  const fresh = Buffer.alloc(1024);
  b.setPool(acc, fresh);
  t.deepEqual(await delivered(PACKET), [PACKET.length, 0], 'a new pool starts from its beginning');
  t.deepEqual(fresh.subarray(0, PACKET.length), PACKET);
  t.throws(() => b.setPool(acc, 'not a buffer' as never), { instanceOf: TypeError });
});

/** The event mask of `fd` in this process's epoll sets (libuv's loop), from /proc/self/fdinfo. */
function epollMask(fd: number): number | undefined {
  for (const entry of readdirSync('/proc/self/fd')) {
    let link = '';
    try {
      link = readlinkSync(`/proc/self/fd/${entry}`);
    } catch {
      continue;
    }
    if (link !== 'anon_inode:[eventpoll]') continue;
    const m = new RegExp(`^tfd:\\s+${fd}\\s+events:\\s+([0-9a-f]+)`, 'm').exec(readFileSync(`/proc/self/fdinfo/${entry}`, 'utf8'));
    if (m) return parseInt(m[1], 16);
  }
  return undefined;
}

test('one worker woken per connection: the listening fd is in the loop\'s epoll set with EPOLLEXCLUSIVE; exclusive: false leaves it plain', async (t) => {
  const EPOLLIN = 0x1;
  const EPOLLEXCLUSIVE = 0x10000000;
  for (const exclusive of [undefined, false]) {
    const { sock, fd } = responder(t, exclusive === undefined ? {} : { exclusive });
    // Armed on the first wakeup, once libuv has added the fd itself; still serving after it.
    for (let i = 0; i < 3; i++) t.deepEqual(await exchange(sock, PACKET), RESPONSE);
    const mask = epollMask(fd);
    t.truthy(mask, `fd ${fd} is in an epoll set`);
    t.is(mask! & EPOLLIN, EPOLLIN);
    t.is(mask! & EPOLLEXCLUSIVE, exclusive === false ? 0 : EPOLLEXCLUSIVE, `exclusive: ${exclusive}`);
  }
});

test('a worker whose loop is blocked does not hold the connections its exclusive wakeup would get: the other process answers them all', async (t) => {
  addon();
  const { path: sock, fd } = bound(t);
  // Two processes on one listening socket, as nuwsgi's workers: each answers with its pid, and
  // after answering /block spins (its event loop blocked) for 3 s.
  const script = `
    const b = require(${JSON.stringify(ADDON_PATH)});
    const answer = (body) => Buffer.from('HTTP/1.1 200 OK\\r\\nContent-Length: ' + body.length + '\\r\\n\\r\\n' + body);
    let acc;
    acc = b.createAcceptor(3, {
      onConnection(id, data) {
        b.write(acc, id, answer(String(process.pid)));
        b.end(acc, id);
        if (Buffer.isBuffer(data) && data.includes('/block')) { const until = Date.now() + 3000; while (Date.now() < until); }
      },
      onWritable() {}, onPeerClose() {}, onClosed() {},
    }, { backlog: 64 });
    console.log('ready');
    process.on('SIGTERM', () => process.exit(0));
  `;
  const children = [0, 1].map(() => spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit', fd] }));
  t.teardown(() => children.forEach((c) => c.kill('SIGTERM')));
  await Promise.all(children.map((c) => new Promise((resolve) => c.stdout!.once('data', resolve))));
  const pidOf = (reply: Buffer) => Number(reply.toString('latin1').split('\r\n\r\n')[1]);
  const pids = new Set(children.map((c) => c.pid));
  const blocked = pidOf(await exchange(sock, uwsgiPacket([['REQUEST_METHOD', 'GET'], ['PATH_INFO', '/block']])));
  t.true(pids.has(blocked));
  const others: number[] = [];
  for (let i = 0; i < 20; i++) others.push(pidOf(await exchange(sock, PACKET)));
  t.deepEqual(new Set(others), new Set([...pids].filter((p) => p !== blocked)), 'every request while one worker spins is answered by the other');
});

test('a packet sent a while after connecting arrives through the pending poll, whole', async (t) => {
  const { b, acc, sock, rec } = responder(t, { pendingMs: 5000 });
  const reply = new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    const c = net.connect({ path: sock }, () => setTimeout(() => c.write(PACKET), 50));
    c.on('data', (d) => chunks.push(d));
    c.on('end', () => resolve(Buffer.concat(chunks)));
    c.on('error', reject);
  });
  t.deepEqual(await reply, RESPONSE);
  t.deepEqual((await rec.next('connection'))[2], PACKET);
  t.like(b.stats(acc), { accepted: 1, open: 0, dropped: 0, waited: 1 }, 'counted as a connection that waited for a poll');
});

test('150 connections that all wait before sending are each answered once their packet comes', async (t) => {
  const { b, acc, sock } = responder(t, { backlog: 256, pendingMs: 10_000 });
  const clients = await Promise.all(
    Array.from({ length: 150 }, () => new Promise<net.Socket>((resolve, reject) => {
      const c = net.connect({ path: sock }, () => resolve(c));
      c.on('error', reject);
    })),
  );
  // Every connection is accepted before any packet is sent: all wait in the acceptor's pending set.
  while (b.stats(acc).accepted < 150) await sleep(10);
  t.is(b.stats(acc).waited, 150);
  const replies = clients.map((c) => new Promise<Buffer>((resolve) => {
    const chunks: Buffer[] = [];
    c.on('data', (d) => chunks.push(d));
    c.on('end', () => resolve(Buffer.concat(chunks)));
  }));
  // All at once, more than one read of the set takes (64).
  for (const c of clients) c.write(PACKET);
  for (const reply of await Promise.all(replies)) t.deepEqual(reply, RESPONSE);
  t.like(b.stats(acc), { accepted: 150, open: 0, dropped: 0 });
});

// ---------------------------------------------------------------- large responses and the queue

/** A client that reads nothing until resume() is called, then everything until EOF. */
function slowClient(sock: string) {
  const c = net.connect({ path: sock }, () => c.write(PACKET));
  c.pause();
  let got = 0;
  const hash: Buffer[] = [];
  const done = new Promise<number>((resolve, reject) => {
    c.on('data', (d: Buffer) => {
      got += d.length;
      if (hash.length < 1) hash.push(d.subarray(0, 16));
    });
    c.on('end', () => resolve(got));
    c.on('error', reject);
  });
  return { resume: () => c.resume(), done, socket: c };
}

const BIG = Buffer.alloc(8 * 1024 * 1024);
for (let i = 0; i < BIG.length; i += 4096) BIG.writeUInt32LE(i, i);

test('an 8 MiB response to a slow reader: bytes are queued, onWritable when flushed, then end() closes at once', async (t) => {
  const b = addon();
  const { path: sock, fd } = bound(t);
  let acc: Acceptor;
  let queued = -1;
  const rec = new Recorder({
    onConnection(id) {
      queued = b.write(acc, id, BIG);
    },
  });
  acc = b.createAcceptor(fd, rec, { backlog: 16 });
  t.teardown(() => b.close(acc));
  const client = slowClient(sock);
  const [, id] = await rec.next('connection');
  t.true(queued > 0 && queued < BIG.length, `write queued ${queued} of ${BIG.length} bytes`);
  t.is(b.release(acc, id), -EBUSY, 'release waits for the queue');
  client.resume();
  await rec.next('writable', id);
  t.true(b.end(acc, id), 'nothing queued any more: closed now');
  t.is(await client.done, BIG.length);
  t.deepEqual(rec.events.map((e) => e[0]), ['connection', 'writable']);
  t.is(b.stats(acc).open, 0);
});

test('an 8 MiB response and end(): end() says it will finish later, onClosed follows, every byte arrives in order', async (t) => {
  const b = addon();
  const { path: sock, fd } = bound(t);
  let acc: Acceptor;
  const result: { queued?: number; ended?: boolean; writeAfterEnd?: number } = {};
  const rec = new Recorder({
    onConnection(id) {
      // Two writes: the second one goes behind the first one's queue.
      result.queued = b.write(acc, id, BIG.subarray(0, 4 * 1024 * 1024));
      b.write(acc, id, [BIG.subarray(4 * 1024 * 1024)]);
      result.ended = b.end(acc, id);
      result.writeAfterEnd = b.write(acc, id, Buffer.from('x'));
    },
  });
  acc = b.createAcceptor(fd, rec, { backlog: 16 });
  t.teardown(() => b.close(acc));
  const chunks: Buffer[] = [];
  const client = net.connect({ path: sock }, () => client.write(PACKET));
  client.pause();
  client.on('data', (d: Buffer) => chunks.push(d));
  const ended = new Promise((r) => client.on('end', r));
  const [, id] = await rec.next('connection');
  t.true(result.queued! > 0);
  t.false(result.ended);
  t.is(result.writeAfterEnd, -EPIPE);
  t.false(b.end(acc, id), 'a second end() is a no-op');
  setTimeout(() => client.resume(), 20);
  await rec.next('closed', id);
  await ended;
  t.true(Buffer.concat(chunks).equals(BIG));
  t.deepEqual(rec.events.map((e) => e[0]), ['connection', 'closed'], 'no onWritable after end()');
  t.is(b.stats(acc).open, 0);
  t.is(b.write(acc, id, Buffer.from('x')), -EBADF, 'the id is gone');
});

test('a peer that goes away while a queued response drains: onPeerClose (not watched) or onClosed (after end)', async (t) => {
  const b = addon();
  const { path: sock, fd } = bound(t);
  let acc: Acceptor;
  let n = 0;
  const rec = new Recorder({
    onConnection(id) {
      b.write(acc, id, BIG);
      if (n++ === 1) b.end(acc, id);
    },
  });
  acc = b.createAcceptor(fd, rec, { backlog: 16 });
  t.teardown(() => b.close(acc));
  for (const expected of ['peerClose', 'closed']) {
    const client = slowClient(sock);
    client.socket.on('error', () => {});
    const [, id] = await rec.next('connection');
    // Read a little so the server polls for writable, then vanish.
    client.resume();
    await new Promise((r) => client.socket.once('data', r));
    client.socket.destroy();
    const [name, , errno] = await rec.nextOf(['peerClose', 'closed'], id);
    t.is(name, expected);
    if (name === 'peerClose') t.true([EPIPE, ECONNRESET].includes(errno as number), `errno ${errno}`);
  }
  t.is(b.stats(acc).open, 0);
});

// ---------------------------------------------------------------- pending, release, watch

test('a client that sends nothing is delivered empty after pendingMs; release() hands its fd to a net.Socket that works', async (t) => {
  const b = addon();
  const { path: sock, fd } = bound(t);
  let acc: Acceptor;
  const rec = new Recorder();
  acc = b.createAcceptor(fd, rec, { backlog: 16, pendingMs: 100 });
  t.teardown(() => b.close(acc));
  const client = net.connect({ path: sock });
  const received: Buffer[] = [];
  client.on('data', (d) => received.push(d));
  const clientEnded = new Promise((r) => client.on('end', r));

  const [, id, data] = await rec.next('connection');
  t.is((data as Buffer).length, 0);
  t.is(b.stats(acc).open, 1);
  const released = b.release(acc, id);
  t.true(released >= 0);
  t.is(b.stats(acc).open, 0);
  t.is(b.release(acc, id), -EBADF, 'released ids are forgotten');

  const socket = new net.Socket({ fd: released, readable: true, writable: true });
  const got = new Promise<Buffer>((r) => socket.once('data', r));
  client.write(PACKET);
  t.deepEqual(await got, PACKET);
  socket.end(RESPONSE);
  await clientEnded;
  t.deepEqual(Buffer.concat(received), RESPONSE);
  socket.destroy();
  t.deepEqual(rec.events.map((e) => e[0]), ['connection']);
});

test('a client that connects and closes without sending is dropped silently', async (t) => {
  const b = addon();
  const { path: sock, fd } = bound(t);
  const rec = new Recorder();
  const acc = b.createAcceptor(fd, rec, { backlog: 16, pendingMs: 60_000 });
  t.teardown(() => b.close(acc));
  await new Promise<void>((resolve) => {
    const c = net.connect({ path: sock }, () => c.end());
    c.on('close', () => resolve());
  });
  while (b.stats(acc).dropped < 1) await sleep(10);
  t.like(b.stats(acc), { accepted: 1, open: 0, dropped: 1 });
  t.deepEqual(rec.events, []);
});

test('watch(): the peer closing gives onPeerClose(id, 0); data it sends first is discarded', async (t) => {
  const b = addon();
  const { path: sock, fd } = bound(t);
  let acc: Acceptor;
  const rec = new Recorder({ onConnection: (id) => t.true(b.watch(acc, id)) });
  acc = b.createAcceptor(fd, rec, { backlog: 16 });
  t.teardown(() => b.close(acc));
  const client = net.connect({ path: sock }, () => client.write(PACKET));
  const [, id] = await rec.next('connection');
  client.write('unexpected bytes');
  await sleep(20);
  t.is(b.stats(acc).open, 1, 'still open after the extra data');
  client.end();
  const [, , errno] = await rec.next('peerClose', id);
  t.is(errno, 0);
  t.is(b.stats(acc).open, 0);
  t.is(b.write(acc, id, RESPONSE), -EBADF, 'closed by C and forgotten');
});

test('watch(): a peer that resets (closes with our bytes unread) gives onPeerClose(id, ECONNRESET)', async (t) => {
  const b = addon();
  const { path: sock, fd } = bound(t);
  let acc: Acceptor;
  const rec = new Recorder({
    onConnection(id) {
      t.is(b.write(acc, id, Buffer.from('partial response')), 0);
      b.watch(acc, id);
    },
  });
  acc = b.createAcceptor(fd, rec, { backlog: 16 });
  t.teardown(() => b.close(acc));
  const client = slowClient(sock);
  const [, id] = await rec.next('connection');
  client.socket.destroy();
  const [, , errno] = await rec.next('peerClose', id);
  t.is(errno, ECONNRESET);
});

test('watch() and a queued write share one poll: onWritable, then the peer closing is still seen', async (t) => {
  const b = addon();
  const { path: sock, fd } = bound(t);
  let acc: Acceptor;
  let queued = 0;
  const rec = new Recorder({
    onConnection(id) {
      t.true(b.watch(acc, id));
      queued = b.write(acc, id, BIG);
    },
  });
  acc = b.createAcceptor(fd, rec, { backlog: 16 });
  t.teardown(() => b.close(acc));
  const client = slowClient(sock);
  const [, id] = await rec.next('connection');
  t.true(queued > 0);
  client.resume();
  await rec.next('writable', id);
  client.socket.end();
  const [, , errno] = await rec.next('peerClose', id);
  t.is(errno, 0);
  t.is(b.stats(acc).open, 0);
});

// ---------------------------------------------------------------- ids, close, load

test('unknown and stale ids are harmless no-ops; a non-acceptor is a TypeError', async (t) => {
  const { b, acc, sock } = responder(t);
  for (const id of [0, 1, 12345, 2 ** 31 - 1, -1, 2 ** 40]) {
    t.is(b.write(acc, id, RESPONSE), -EBADF);
    t.false(b.end(acc, id));
    t.false(b.destroy(acc, id));
    t.false(b.watch(acc, id));
    t.is(b.release(acc, id), -EBADF);
  }
  await exchange(sock, PACKET);
  const stale = 1 << 20; // generation 1, slot 0: the first connection's id, now closed
  t.is(b.write(acc, stale, RESPONSE), -EBADF);
  t.throws(() => b.write({} as Acceptor, 1, RESPONSE), { instanceOf: TypeError });
  t.throws(() => b.stats(undefined as unknown as Acceptor), { instanceOf: TypeError });
  t.throws(() => b.createAcceptor(-1, new Recorder()), { instanceOf: TypeError });
  t.throws(() => b.createAcceptor(0, {} as Callbacks), { instanceOf: TypeError });
  const fresh = responder(t);
  let id = -1;
  const ids = new Recorder({ onConnection: (i) => (id = i) });
  fresh.b.close(fresh.acc);
  const acc2 = b.createAcceptor(fresh.fd, ids, {});
  t.teardown(() => b.close(acc2));
  const c = net.connect({ path: fresh.sock }, () => c.write(PACKET));
  await ids.next('connection');
  t.throws(() => b.write(acc2, id, 'text' as unknown as Buffer), { instanceOf: TypeError });
  t.true(b.destroy(acc2, id));
  await new Promise((r) => c.on('close', r));
});

test('close() stops accepting: a new connection waits in the backlog until another acceptor takes it', async (t) => {
  const { b, acc, sock, fd, outcome } = responder(t);
  t.deepEqual(await exchange(sock, PACKET), RESPONSE);
  b.close(acc);
  b.close(acc); // twice is fine
  let answered = false;
  const reply = exchange(sock, PACKET).then((r) => ((answered = true), r));
  await sleep(100);
  t.false(answered, 'nobody accepts after close()');
  t.is(b.stats(acc).accepted, 1);
  let acc2: Acceptor;
  const second = new Recorder({
    onConnection(id) {
      b.write(acc2, id, RESPONSE);
      b.end(acc2, id);
    },
  });
  acc2 = b.createAcceptor(fd, second, {});
  t.teardown(() => b.close(acc2));
  t.deepEqual(await reply, RESPONSE);
  t.is(outcome.flushed, 1);
  t.is(b.stats(acc2).accepted, 1);
});

test('2000 connections, 100 at a time, are all answered', async (t) => {
  const { b, acc, sock, outcome } = responder(t, { maxBatch: 16 });
  const replies = await many(sock, 2000, 100);
  t.is(replies.length, 2000);
  t.true(replies.every((r) => r.equals(RESPONSE)));
  t.is(outcome.flushed, 2000);
  t.is(outcome.closedNow, 2000);
  t.like(b.stats(acc), { accepted: 2000, open: 0 });
});

/** Full GC on demand (the flag can be set at run time; the function comes from a fresh context). */
function collect(): void {
  v8.setFlagsFromString('--expose-gc');
  (vm.runInNewContext('gc') as () => void)();
}

/** `total` exchanges from a child process, `parallel` at a time: the clients' garbage stays there. */
function clientProcess(sock: string, total: number, parallel: number): Promise<string> {
  const script = `
    const net = require('node:net');
    const packet = Buffer.from(${JSON.stringify(PACKET.toString('base64'))}, 'base64');
    const expected = Buffer.from(${JSON.stringify(RESPONSE.toString('base64'))}, 'base64');
    let next = 0, ok = 0, bad = 0;
    const one = () => new Promise((resolve) => {
      const chunks = [];
      const c = net.connect({ path: ${JSON.stringify(sock)} }, () => c.write(packet));
      c.on('data', (d) => chunks.push(d));
      c.on('end', () => { Buffer.concat(chunks).equals(expected) ? ok++ : bad++; resolve(); });
      c.on('error', () => { bad++; resolve(); });
    });
    const lane = async () => { while (next < ${total}) { next++; await one(); } };
    Promise.all(Array.from({ length: ${parallel} }, lane)).then(() => console.log(ok + ' ok ' + bad + ' bad'));
  `;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['-e', script], { timeout: 110_000 }, (error, stdout, stderr) => (error ? reject(new Error(stderr || String(error))) : resolve(stdout.trim())));
  });
}

test.serial('20k connections leave nothing open and RSS flat', async (t) => {
  const { b, acc, sock, outcome } = responder(t, {}, false);
  t.is(await clientProcess(sock, 2000, 32), '2000 ok 0 bad'); // warm up: JIT, allocator pools
  const rss: number[] = [];
  for (let round = 0; round < 4; round++) {
    collect();
    rss.push(process.memoryUsage.rss());
    t.is(await clientProcess(sock, 5000, 32), '5000 ok 0 bad');
  }
  collect();
  rss.push(process.memoryUsage.rss());
  const grown = rss[4] - rss[0];
  t.log(rss.map((r) => (r / 1048576).toFixed(1)).join(' '));
  t.like(b.stats(acc), { accepted: 22_000, open: 0, dropped: 0 });
  t.is(outcome.other, 0, 'every response flushed and closed synchronously');
  t.true(grown < 4 * 1024 * 1024, `RSS grew ${(grown / 1048576).toFixed(1)} MiB`);
  t.log(`RSS grew ${(grown / 1048576).toFixed(2)} MiB over 20k connections`);
});

test('an exception thrown by a callback is an uncaught exception, not lost', (t) => {
  addon();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nuwsgi-native-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const script = `
    const net = require('node:net');
    const b = require(${JSON.stringify(ADDON_PATH)});
    const h = net._createServerHandle(${JSON.stringify(path.join(dir, 's.sock'))}, -1, -1);
    let acc;
    acc = b.createAcceptor(h.fd, {
      onConnection(id) { b.destroy(acc, id); throw new Error('boom from onConnection'); },
      onWritable() {}, onPeerClose() {}, onClosed() {},
    }, { backlog: 8 });
    process.on('uncaughtException', (e) => { console.log('uncaught: ' + e.message); process.exit(0); });
    net.connect({ path: ${JSON.stringify(path.join(dir, 's.sock'))} }, function () { this.write('x'); }).on('error', () => {});
  `;
  const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000 });
  t.is(run.stdout.trim(), 'uncaught: boom from onConnection', run.stderr);
  t.is(run.status, 0);
});
