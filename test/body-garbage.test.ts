import test from 'ava';
import { execFileSync } from 'node:child_process';
import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { BodyGarbage, COLLECT_EVERY_BYTES, LARGE_BODY_BYTES } from '../src/server/body-garbage.js';

/** A request as the bridge or http.Server makes it: Node's IncomingMessage with its header lines. */
function request(method: string, headers: [string, string][]): IncomingMessage {
  const req = new IncomingMessage(new Socket());
  req.method = method;
  const raw = headers.flat();
  (req as unknown as { _addHeaderLines(h: string[], n: number): void })._addHeaderLines(raw, raw.length);
  return req;
}

const MiB = 1024 * 1024;

/** Pushes `total` bytes in 64 KiB chunks, as socket reads come, and returns what the app read. */
async function stream(req: IncomingMessage, total: number): Promise<number> {
  let read = 0;
  req.on('data', (chunk: Buffer) => (read += chunk.length));
  const done = new Promise((resolve) => req.on('end', resolve));
  for (let sent = 0; sent < total; sent += 64 * 1024) req.push(Buffer.alloc(Math.min(64 * 1024, total - sent)));
  req.push(null);
  await done;
  return read;
}

test('a large declared body: one collection per COLLECT_EVERY_BYTES pushed, and the app still gets every byte', async (t) => {
  let collections = 0;
  const bodies = new BodyGarbage(() => collections++);
  const req = request('POST', [['Content-Length', String(64 * MiB)]]);
  bodies.watch(req);
  t.is(await stream(req, 64 * MiB), 64 * MiB);
  t.is(collections, (64 * MiB) / COLLECT_EVERY_BYTES);
});

test('bodies of several requests count together', async (t) => {
  let collections = 0;
  const bodies = new BodyGarbage(() => collections++);
  for (let i = 0; i < 4; i++) {
    const req = request('PUT', [['Content-Length', String(COLLECT_EVERY_BYTES / 2)]]);
    bodies.watch(req);
    await stream(req, COLLECT_EVERY_BYTES / 2);
  }
  t.is(collections, 2);
});

test('a chunked body (no length) is counted; small bodies and bodiless methods are left to V8', async (t) => {
  let collections = 0;
  const bodies = new BodyGarbage(() => collections++);
  const chunked = request('POST', [['Transfer-Encoding', 'chunked']]);
  bodies.watch(chunked);
  await stream(chunked, COLLECT_EVERY_BYTES);
  t.is(collections, 1);
  for (const req of [request('POST', [['Content-Length', String(LARGE_BODY_BYTES - 1)]]), request('GET', [['Content-Length', String(64 * MiB)]]), request('POST', [])]) {
    bodies.watch(req);
    await stream(req, COLLECT_EVERY_BYTES);
  }
  t.is(collections, 1);
});

/**
 * In a process of its own, as quiet as a worker between reads: ava's own process collects often
 * enough to free a dropped buffer without help. Prints the ArrayBuffer bytes freed and typeof gc.
 */
const COLLECTOR_SCRIPT = `
import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { BodyGarbage } from ${JSON.stringify(new URL('../src/server/body-garbage.js', import.meta.url).href)};
// Everything the test itself allocates exists before the reading, so the difference is only what
// the collection freed (a 1-byte chunk made after it once left the count 4 bytes short).
const req = new IncomingMessage(new Socket());
req.method = 'POST';
req._addHeaderLines(['Content-Length', '67108864'], 2);
new BodyGarbage(undefined, 1).watch(req);
const chunk = Buffer.alloc(1);
let dropped = Buffer.alloc(16 * 1024 * 1024);
dropped = undefined;
const before = process.memoryUsage().arrayBuffers;
req.push(chunk);
// V8 frees collected ArrayBuffers on a background thread: give it a moment.
for (let i = 0; i < 50 && before - process.memoryUsage().arrayBuffers < 8 * 1024 * 1024; i++) await new Promise((r) => setTimeout(r, 10));
console.log(JSON.stringify({ freed: before - process.memoryUsage().arrayBuffers, gc: typeof globalThis.gc }));
`;

test('the real collector frees dropped body buffers at once, without giving the app a global gc', (t) => {
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', COLLECTOR_SCRIPT], { encoding: 'utf8' });
  const { freed, gc } = JSON.parse(out) as { freed: number; gc: string };
  t.true(freed >= 16 * MiB, `freed ${freed} bytes of ArrayBuffers`);
  t.is(gc, 'undefined');
});
