// Malformed and hostile input on the uwsgi socket (protocol.md §6, §8): raw bytes straight to the
// unix socket of the real CLI. For every case the server must log one line naming the cause,
// close that connection, and keep serving: after each case a normal request through nginx must
// still get 200. One server for the whole file, so the cases run serially and each looks only at
// the log written since it started.

import test, { type ExecutionContext } from 'ava';
import net from 'node:net';
import { httpRequest, startNginx, type NginxInstance } from './helpers/nginx.js';
import { startServer, type ServerInstance } from './helpers/server.js';
import { uwsgiPacket } from './helpers/uwsgi-packet.js';

const BUFFER_SIZE = 1024;
let server: ServerInstance;
let nginx: NginxInstance;

test.before(async () => {
  // Request lines off: each case counts the log lines the server wrote about it.
  server = await startServer({ app: 'life-app.mjs', args: ['--processes', '2', '--buffer-size', String(BUFFER_SIZE), '--socket-timeout', '1', '--disable-logging'] });
  nginx = await startNginx({ upstream: server.upstream });
});

test.after.always(async () => {
  await nginx?.stop();
  await server?.stop('SIGTERM');
});

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

const packet = uwsgiPacket;

const GET: [string, string][] = [
  ['REQUEST_METHOD', 'GET'],
  ['REQUEST_URI', '/?n=raw'],
  ['SERVER_PROTOCOL', 'HTTP/1.1'],
];

interface Exchange {
  /** Everything the server sent before closing. */
  reply: Buffer;
}

/**
 * Write `bytes` to the uwsgi socket and read until the server closes (bounded). With `end`, our
 * side is half-closed after the write (a peer that gives up mid-packet).
 */
function raw(bytes: Buffer, { end = false, timeoutMs = 10_000 } = {}): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const sock = net.connect({ path: server.socket });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`the server did not close the connection within ${timeoutMs} ms; got ${JSON.stringify(Buffer.concat(chunks).toString('latin1'))}`));
    }, timeoutMs);
    sock.on('connect', () => {
      sock.write(bytes);
      if (end) sock.end();
    });
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', () => {
      // a reset still ends the exchange; 'close' follows
    });
    sock.on('close', () => {
      clearTimeout(timer);
      resolve({ reply: Buffer.concat(chunks) });
    });
  });
}

/** Log lines written since `mark` (an offset into the output). */
function linesSince(mark: number): string[] {
  return server
    .output()
    .slice(mark)
    .split('\n')
    .filter((line) => line.length > 0);
}

async function waitForLines(mark: number, pattern: RegExp, n: number, timeoutMs = 10_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const matching = linesSince(mark).filter((line) => pattern.test(line));
    if (matching.length >= n) return matching;
    if (Date.now() > deadline) throw new Error(`expected ${n} log line(s) matching ${pattern} within ${timeoutMs} ms, got:\n${linesSince(mark).join('\n')}`);
    await sleep(20);
  }
}

/** The case's aftermath: exactly one log line, naming the cause; the server still serves. */
async function oneLineAndStillServing(t: ExecutionContext, mark: number, cause: RegExp, timeoutMs = 10_000): Promise<void> {
  await waitForLines(mark, cause, 1, timeoutMs);
  const res = await httpRequest({ method: 'GET', url: `${nginx.baseUrl}/?n=after`, timeoutMs: 15_000 });
  t.is(res.status, 200);
  t.regex(res.body.toString(), /^n=after pid=\d+$/);
  const lines = linesSince(mark);
  t.is(lines.length, 1, `one log line for the case, got:\n${lines.join('\n')}`);
  t.regex(lines[0], cause);
  t.notRegex(server.output(), /DAMN|uncaught exception|unhandled promise rejection/);
}

test.serial('baseline: a well-formed raw packet is served', async (t) => {
  const { reply } = await raw(packet(GET));
  t.regex(reply.toString('latin1'), /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nn=raw pid=\d+$/);
});

test.serial('garbage bytes: logged, closed, still serving', async (t) => {
  const mark = server.output().length;
  const { reply } = await raw(Buffer.from('deadbeefcafebabe0123456789abcdef', 'hex'));
  t.is(reply.length, 0);
  await oneLineAndStillServing(t, mark, /unsupported uwsgi modifier1 222/);
});

test.serial('HTTP text sent to the uwsgi socket: logged as probably an HTTP client, closed', async (t) => {
  const mark = server.output().length;
  const { reply } = await raw(Buffer.from('GET / HTTP/1.1\r\nHost: example.test\r\n\r\n', 'latin1'));
  t.is(reply.length, 0);
  await oneLineAndStillServing(t, mark, /unsupported uwsgi modifier1 71 .*HTTP client on the uwsgi socket/);
});

// uWSGI logs these ("uwsgi_proto_uwsgi_parser(): Success", protocol.md §6); so does nuwsgi, with
// the byte count, while a connect-and-close with no bytes (a liveness probe) stays silent.
const TRUNCATED = /(truncated|incomplete|closed|ended|went away)[^\n]*(header|packet|var block)/i;

test.serial('truncated 4-byte header, then the peer closes: logged, closed', async (t) => {
  const mark = server.output().length;
  const { reply } = await raw(Buffer.from([0x00, 0x40]), { end: true });
  t.is(reply.length, 0);
  await oneLineAndStillServing(t, mark, TRUNCATED, 3000);
});

test.serial('truncated var block, then the peer closes: logged, closed', async (t) => {
  const mark = server.output().length;
  const { reply } = await raw(packet(GET).subarray(0, 20), { end: true });
  t.is(reply.length, 0);
  await oneLineAndStillServing(t, mark, TRUNCATED, 3000);
});

test.serial('var block whose lengths run past its end: logged, closed', async (t) => {
  const mark = server.output().length;
  // A valid var, then a key length of 0xffff in a 4-byte remainder.
  const good = packet([['REQUEST_METHOD', 'GET']]).subarray(4);
  const block = Buffer.concat([good, Buffer.from([0xff, 0xff, 0x41, 0x42])]);
  const header = Buffer.from([0, 0, 0, 0]);
  header.writeUInt16LE(block.length, 1);
  const { reply } = await raw(Buffer.concat([header, block]));
  t.is(reply.length, 0);
  await oneLineAndStillServing(t, mark, /invalid uwsgi var block/);
});

test.serial('var block of size zero: logged, closed', async (t) => {
  const mark = server.output().length;
  const { reply } = await raw(Buffer.from([0, 0, 0, 0]));
  t.is(reply.length, 0);
  await oneLineAndStillServing(t, mark, /empty uwsgi request/);
});

test.serial('invalid CONTENT_LENGTH: 400, logged, closed', async (t) => {
  const mark = server.output().length;
  const { reply } = await raw(packet([...GET, ['CONTENT_LENGTH', '12abc']]));
  t.regex(reply.toString('latin1'), /^HTTP\/1\.1 400 Bad Request\r\n/);
  await oneLineAndStillServing(t, mark, /invalid CONTENT_LENGTH "12abc"/);
});

test.serial('var block above --buffer-size: 431, and the log names buffer-size', async (t) => {
  const mark = server.output().length;
  const big = packet([...GET, ['HTTP_COOKIE', 'c'.repeat(BUFFER_SIZE * 2)]]);
  const { reply } = await raw(big);
  t.regex(reply.toString('latin1'), /^HTTP\/1\.1 431 /);
  await oneLineAndStillServing(t, mark, /exceeds buffer-size 1024.*--buffer-size/);
});

test.serial('headers above --buffer-size through nginx: the client gets the 431, not a 502', async (t) => {
  const mark = server.output().length;
  const res = await httpRequest({ method: 'GET', url: `${nginx.baseUrl}/?n=big`, headers: { Cookie: 'c'.repeat(BUFFER_SIZE * 2) }, timeoutMs: 15_000 });
  t.is(res.status, 431);
  await oneLineAndStillServing(t, mark, /exceeds buffer-size 1024.*--buffer-size/);
});

test.serial('300 idle connections: requests are still served meanwhile, and each is closed after socket-timeout', async (t) => {
  const IDLE = 300;
  const mark = server.output().length;
  const sockets: net.Socket[] = [];
  let closed = 0;
  await Promise.all(
    Array.from(
      { length: IDLE },
      () =>
        new Promise<void>((resolve, reject) => {
          const sock = net.connect({ path: server.socket });
          sockets.push(sock);
          sock.once('connect', () => resolve());
          sock.once('error', reject);
          sock.on('close', () => closed++);
        }),
    ),
  );
  // Served while the idle connections are open: an idle connection costs a worker nothing.
  const responses = await Promise.all([0, 1, 2, 3].map((n) => httpRequest({ method: 'GET', url: `${nginx.baseUrl}/?n=${n}`, timeoutMs: 15_000 })));
  const openWhenServed = IDLE - closed;
  responses.forEach((res, n) => {
    t.is(res.status, 200);
    t.regex(res.body.toString(), new RegExp(`^n=${n} pid=\\d+$`));
  });
  t.true(openWhenServed > 0, 'the idle connections were still open when the requests were answered');

  const deadline = Date.now() + 20_000;
  while (closed < IDLE && Date.now() < deadline) await sleep(50);
  t.is(closed, IDLE, 'every idle connection closed by the server');
  for (const s of sockets) s.destroy();
  const lines = await waitForLines(mark, /uwsgi header block not received within socket-timeout \(1s\)/, IDLE);
  t.is(lines.length, IDLE);
  t.is(linesSince(mark).length, IDLE, 'one line per connection, nothing else');
  const res = await httpRequest({ method: 'GET', url: `${nginx.baseUrl}/?n=after`, timeoutMs: 15_000 });
  t.is(res.status, 200);
});

test.serial('half a body, then the client stalls: closed after socket-timeout, logged', async (t) => {
  const mark = server.output().length;
  const post: [string, string][] = [
    ['REQUEST_METHOD', 'POST'],
    ['REQUEST_URI', '/body?n=half'],
    ['CONTENT_LENGTH', '100'],
  ];
  const { reply } = await raw(packet(post, Buffer.alloc(50, 0x61)));
  t.is(reply.length, 0);
  await oneLineAndStillServing(t, mark, /POST \/body\?n=half: request body stalled for socket-timeout \(1s\) with 50 bytes missing/);
});

test.serial('nginx saw no reset or premature close from nuwsgi during all of the above', (t) => {
  t.notRegex(nginx.errorLog(), /reset by peer|prematurely closed|upstream timed out/);
});
