// Proves test/helpers/nginx.ts works against a stand-in uwsgi backend, so
// failures in the real integration tests point at nuwsgi, not the harness.

import test from 'ava';
import { existsSync, mkdtempSync, rmSync, chmodSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { httpRequest, rawHttp, startNginx, type NginxInstance } from './helpers/nginx.js';

/** Minimal uwsgi backend: reads header + var block, answers "hello", closes. Keeps each packet. */
async function startBackend(): Promise<{ upstream: string; packets: Buffer[]; close(): Promise<void> }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nuwsgi-harness-'));
  chmodSync(dir, 0o755); // nginx workers (nobody) must reach the socket
  const sock = path.join(dir, 'app.sock');
  const packets: Buffer[] = [];
  const server = net.createServer((conn) => {
    let buf = Buffer.alloc(0);
    conn.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      if (buf.length >= 4 && buf.length >= 4 + buf.readUInt16LE(1)) {
        packets.push(buf);
        conn.end('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello');
      }
    });
    conn.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(sock, r));
  chmodSync(sock, 0o666);
  return {
    upstream: `unix:${sock}`,
    packets,
    close: () =>
      new Promise<void>((r) =>
        server.close(() => {
          rmSync(dir, { recursive: true, force: true });
          r();
        }),
      ),
  };
}

let backend: Awaited<ReturnType<typeof startBackend>>;
let nginx: NginxInstance;

test.before(async () => {
  backend = await startBackend();
  nginx = await startNginx({ upstream: backend.upstream });
});

test.after.always(async () => {
  await nginx?.stop();
  await backend?.close();
});

test.serial('httpRequest: GET through nginx reaches the uwsgi backend', async (t) => {
  const res = await httpRequest({
    method: 'GET',
    url: `${nginx.baseUrl}/hello?x=1`,
    rawHeaders: [
      ['X-Dup', 'a'],
      ['X-Dup', 'b'],
    ],
  });
  t.is(res.status, 200);
  t.is(res.body.toString(), 'hello');
  const packet = backend.packets.at(-1)!;
  t.is(packet[0], 0, 'modifier1');
  t.true(packet.includes('/hello?x=1'), 'REQUEST_URI value in var block');
  // rawHeaders go out as separate lines; nginx 1.22 forwards each as its own var.
  t.is(packet.toString('latin1').split('HTTP_X_DUP').length - 1, 2);
});

test.serial('rawHttp: HTTP/1.0 without Host, read until close', async (t) => {
  const res = (await rawHttp(nginx.port, 'GET /raw HTTP/1.0\r\n\r\n')).toString('latin1');
  t.regex(res, /^HTTP\/1\.1 200 OK\r\n/);
  t.true(res.endsWith('\r\n\r\nhello'));
  t.true(backend.packets.at(-1)!.includes('HTTP/1.0'), 'SERVER_PROTOCOL');
});

test.serial('errorLog() reads the instance log; stop() removes the dir', async (t) => {
  t.regex(nginx.errorLog(), /start worker process/);
  const other = await startNginx({ upstream: backend.upstream, locationExtra: 'uwsgi_modifier1 5;' });
  t.not(other.port, nginx.port);
  t.is((await httpRequest({ method: 'GET', url: other.baseUrl })).status, 200);
  t.is(backend.packets.at(-1)![0], 5, 'locationExtra was applied');
  await other.stop();
  t.false(existsSync(other.dir));
  await other.stop(); // idempotent
});
