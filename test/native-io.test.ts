// The native acceptor (native/, built by npm install) serving uwsgi sockets, over a raw unix
// socket: which path the server says it uses, and the cases where the acceptor's fast path hands
// over or waits (a body larger than its first read, a ping, a response larger than the socket
// buffer, a front end that leaves while the app is still working). The full e2e suite runs on
// this path too; test/ts-path.test.ts runs its core again with --no-native-io.
import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { loadNative } from '../src/native/binding.js';
import { rawUwsgi, requestVars, uwsgiPacket } from './helpers/hardening.js';
import { startServer, type ServerInstance } from './helpers/server.js';

const native = loadNative();
let server: ServerInstance;

test.before(async () => {
  server = await startServer({ app: 'hard-app.mjs', args: ['--processes', '1'] });
});
test.after.always(async () => {
  await server?.stop();
});

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const body = (reply: Buffer) => reply.subarray(reply.indexOf('\r\n\r\n') + 4);

test.serial('the addon is built and the server says it serves uwsgi sockets through it', (t) => {
  t.truthy(native.binding, `native acceptor not available: ${native.error} -- run npm run build:native`);
  t.regex(server.output(), /^uwsgi sockets: native acceptor \(.*nuwsgi_native\.node\)$/m);
});

test.serial('a request read whole is answered, and logged like any other', async (t) => {
  const { reply, reset } = await rawUwsgi(server.socket, uwsgiPacket(requestVars('GET', '/?n=whole')));
  t.false(reset);
  t.regex(reply.toString('latin1'), /^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nn=whole pid=\d+$/);
  await server.waitFor(/GET \/\?n=whole => generated \d+ bytes/);
});

test.serial('a body larger than the first read goes to the streaming path and arrives whole', async (t) => {
  const data = randomBytes(300 * 1024);
  const vars = requestVars('POST', '/body?n=big-body', [['CONTENT_LENGTH', String(data.length)]]);
  const { reply } = await rawUwsgi(server.socket, uwsgiPacket(vars, data));
  const answer = JSON.parse(body(reply).toString()) as { n: string; size: number; sha256: string };
  t.is(answer.n, 'big-body');
  t.is(answer.size, data.length);
  t.is(answer.sha256, sha256(data));
});

test.serial('a ping is answered by the streaming path', async (t) => {
  const { reply } = await rawUwsgi(server.socket, Buffer.from([100, 0, 0, 0]));
  t.deepEqual([...reply], [0x64, 0, 0, 1]);
});

test.serial('an 8 MiB response to a reader that waits first is queued by the addon and arrives whole', async (t) => {
  const blocks = 128;
  const received = await new Promise<Buffer>((resolve, reject) => {
    const s = net.connect(server.socket);
    const chunks: Buffer[] = [];
    s.on('error', reject);
    s.write(uwsgiPacket(requestVars('GET', `/big?n=queued&blocks=${blocks}`)));
    // Let the socket buffer fill before reading anything.
    s.pause();
    setTimeout(() => s.resume(), 300);
    s.on('data', (c) => chunks.push(c));
    s.on('end', () => resolve(Buffer.concat(chunks)));
  });
  t.regex(received.subarray(0, 20).toString('latin1'), /^HTTP\/1\.1 200 OK/);
  t.is(body(received).length, blocks * 65536);
});

test.serial('a front end that leaves while the app works: the app sees its response closed', async (t) => {
  const s = net.connect(server.socket);
  s.write(uwsgiPacket(requestVars('GET', '/hang?n=left')));
  await server.waitFor(/hang n=left/);
  s.destroy();
  await server.waitFor(/res closed early n=left after 0 bytes/);
  t.pass();
});

test('a graceful stop serves a connection accepted before its request came (nginx connects, then writes), instead of resetting it', async (t) => {
  const one = await startServer({ app: 'hard-app.mjs', args: ['--processes', '1'] });
  t.teardown(() => one.stop());
  const client = net.connect(one.socket);
  const reply = new Promise<{ data: Buffer; error?: string }>((resolve) => {
    const chunks: Buffer[] = [];
    client.on('data', (c: Buffer) => chunks.push(c));
    client.on('error', (e: NodeJS.ErrnoException) => resolve({ data: Buffer.concat(chunks), error: e.code }));
    client.on('close', () => resolve({ data: Buffer.concat(chunks) }));
  });
  await new Promise((resolve) => client.once('connect', resolve));
  // The idle worker accepts at once; the request is not there yet (well under pendingMs, 1 s).
  await new Promise((resolve) => setTimeout(resolve, 300));
  const stopped = one.stop('SIGTERM', 15_000);
  await one.waitFor(/worker 1 \(pid: \d+\) stopped accepting, 0 requests in flight/);
  client.write(uwsgiPacket(requestVars('GET', '/?n=late')));
  const { data, error } = await reply;
  t.is(error, undefined);
  t.regex(data.toString('latin1'), /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nn=late pid=\d+$/);
  t.is(await stopped, 0);
});

test('--no-native-io and UWSGI_NATIVE_IO=false choose the TypeScript path, which serves', async (t) => {
  for (const opts of [{ args: ['--no-native-io'] }, { env: { UWSGI_NATIVE_IO: 'false' } }]) {
    const ts = await startServer({ app: 'hard-app.mjs', ...opts });
    try {
      t.regex(ts.output(), /^uwsgi sockets: pure TypeScript path \(--no-native-io\)$/m);
      const { reply } = await rawUwsgi(ts.socket, uwsgiPacket(requestVars('GET', '/?n=ts')));
      t.regex(reply.toString('latin1'), /\r\n\r\nn=ts pid=\d+$/);
    } finally {
      await ts.stop();
    }
  }
});
