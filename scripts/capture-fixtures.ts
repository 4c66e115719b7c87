// Records the exact bytes the installed nginx sends to a uwsgi backend, for a
// fixed set of client requests, into fixtures/nginx/<case>.bin (+ .json with
// what the client sent). Fixtures are captured, never hand-typed: the decoder
// tests compare src/protocol against these bytes and this client-side truth.
//
//   npm run capture-fixtures
//
// The recorder below deliberately decodes nothing but the 4-byte header
// (datasize, to know where the body starts): it must not share code with
// the decoder it is producing test data for.

import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { findNginx, rawHttp, startNginx, type NginxInstance } from '../test/helpers/nginx.js';

const CASE_TIMEOUT_MS = 10_000;
const UWSGI_PARAMS = '/etc/nginx/uwsgi_params';
// Fixed so DOCUMENT_ROOT is identical across runs (nginx never reads it: all goes upstream).
const DOCUMENT_ROOT = '/srv/nuwsgi-capture';
// Bodies up to this size are stored as hex in the .json; bigger ones as sha256.
const HEX_LIMIT = 1024;

interface Case {
  name: string;
  method: string;
  target: string;
  httpVersion: 'HTTP/1.0' | 'HTTP/1.1';
  headers: [string, string][];
  /** Bytes after the header block, exactly as sent (chunked framing included). */
  body: Buffer;
  /** What nginx should forward after the var block (de-chunked). */
  expectedBody: Buffer;
}

const HOST: [string, string] = ['Host', 'capture.test'];
const UA: [string, string] = ['User-Agent', 'capture-client/1.0'];
const CLOSE: [string, string] = ['Connection', 'close']; // so nginx closes and rawHttp returns

function simple(c: Omit<Case, 'body' | 'expectedBody'> & { body?: Buffer }): Case {
  const body = c.body ?? Buffer.alloc(0);
  return { ...c, body, expectedBody: body };
}

const ten = Buffer.from('0123456789');
const big = Buffer.from(Array.from({ length: 65536 }, (_, i) => i % 251)); // prime period: misplaced bytes show
const abc = 'abcdefghijklmnopqrstuvwxyz';

const CASES: Case[] = [
  simple({
    name: 'get-query',
    method: 'GET',
    target: '/search?q=node%20js&page=2',
    httpVersion: 'HTTP/1.1',
    headers: [HOST, UA, ['Accept', '*/*'], ['Accept-Language', 'en-GB,en;q=0.8'], CLOSE],
  }),
  simple({
    name: 'post-10',
    method: 'POST',
    target: '/submit',
    httpVersion: 'HTTP/1.1',
    headers: [HOST, UA, ['Content-Type', 'text/plain'], ['Content-Length', '10'], CLOSE],
    body: ten,
  }),
  simple({ name: 'head', method: 'HEAD', target: '/', httpVersion: 'HTTP/1.1', headers: [HOST, UA, CLOSE] }),
  simple({
    name: 'dup-headers',
    method: 'GET',
    target: '/dup',
    httpVersion: 'HTTP/1.1',
    headers: [
      HOST,
      ['X-Custom', 'one'],
      ['Cookie', 'a=1'],
      ['X-Custom', 'two'],
      ['Cookie', 'b=2'],
      ['X-Custom', 'three'],
      ['Cookie', 'c=3'],
      CLOSE,
    ],
  }),
  simple({
    name: 'long-header',
    method: 'GET',
    target: '/long',
    httpVersion: 'HTTP/1.1',
    headers: [HOST, ['X-Long', abc.repeat(Math.ceil(20480 / 26)).slice(0, 20480)], CLOSE],
  }),
  simple({ name: 'http10-no-host', method: 'GET', target: '/old', httpVersion: 'HTTP/1.0', headers: [UA] }),
  {
    name: 'chunked-post',
    method: 'POST',
    target: '/upload',
    httpVersion: 'HTTP/1.1',
    headers: [HOST, ['Content-Type', 'text/plain'], ['Transfer-Encoding', 'chunked'], CLOSE],
    body: Buffer.from('5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n'),
    expectedBody: Buffer.from('hello world'),
  },
  simple({
    name: 'utf8-path',
    method: 'GET',
    target: '/caf%C3%A9/%E2%9C%93?x=%C3%A9',
    httpVersion: 'HTTP/1.1',
    headers: [HOST, UA, CLOSE],
  }),
  simple({
    name: 'post-64k',
    method: 'POST',
    target: '/upload',
    httpVersion: 'HTTP/1.1',
    headers: [HOST, ['Content-Type', 'application/octet-stream'], ['Content-Length', '65536'], CLOSE],
    body: big,
  }),
];

function requestBytes(c: Case): Buffer {
  const head = `${c.method} ${c.target} ${c.httpVersion}\r\n` + c.headers.map(([k, v]) => `${k}: ${v}\r\n`).join('') + '\r\n';
  return Buffer.concat([Buffer.from(head, 'latin1'), c.body]);
}

/** Small bodies as hex, big ones as a digest, always with the length. */
function describeBody(b: Buffer, hexKey: string, shaKey: string): Record<string, string> {
  return b.length <= HEX_LIMIT ? { [hexKey]: b.toString('hex') } : { [shaKey]: createHash('sha256').update(b).digest('hex') };
}

/**
 * uwsgi backend that records one connection per expect(): reads until it has
 * 4 + datasize + bodyLength bytes, answers a fixed response, and resolves with
 * every byte read once nginx closes the connection.
 */
class Recorder {
  readonly socketPath: string;
  private server: net.Server;
  private pending: { bodyLength: number; resolve: (b: Buffer) => void; reject: (e: Error) => void } | undefined;
  private stray: string | undefined;

  constructor(dir: string) {
    this.socketPath = path.join(dir, 'recorder.sock');
    this.server = net.createServer((sock) => this.onConnection(sock));
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.socketPath, () => {
        chmodSync(this.socketPath, 0o666); // nginx workers run as nobody
        resolve();
      });
    });
  }

  expect(bodyLength: number): Promise<Buffer> {
    if (this.stray) throw new Error(this.stray);
    return new Promise((resolve, reject) => (this.pending = { bodyLength, resolve, reject }));
  }

  private onConnection(sock: net.Socket): void {
    const job = this.pending;
    this.pending = undefined;
    if (!job) {
      this.stray = 'recorder: unexpected extra connection from nginx';
      sock.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    let got = 0;
    let answered = false;
    sock.on('data', (c: Buffer) => {
      chunks.push(c);
      got += c.length;
      if (answered || got < 4) return;
      const first = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      const datasize = first.readUInt16LE(1); // bytes 1..2, little-endian
      if (got >= 4 + datasize + job.bodyLength) {
        answered = true;
        sock.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok');
      }
    });
    sock.on('error', (e) => job.reject(e));
    sock.on('close', () => job.resolve(Buffer.concat(chunks)));
  }

  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const t = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms)));
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

function capturedWith(bin: string): string {
  // `nginx -v` prints "nginx version: nginx/1.22.1" on stderr.
  let out = spawnSync(bin, ['-v'], { encoding: 'utf8' }).stderr.replace(/^nginx version:\s*/, '').trim();
  const deb = spawnSync('dpkg-query', ['-W', '-f=${Version}', 'nginx'], { encoding: 'utf8' });
  if (deb.status === 0 && deb.stdout) out += ` (Debian package nginx ${deb.stdout.trim()})`;
  return out;
}

function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('capture-fixtures: package.json not found');
    dir = up;
  }
  return dir;
}

async function captureCase(c: Case, nginx: NginxInstance, recorder: Recorder): Promise<Buffer> {
  const work = (async () => {
    const captured = recorder.expect(c.expectedBody.length);
    const response = await rawHttp(nginx.port, requestBytes(c), CASE_TIMEOUT_MS);
    const status = response.subarray(0, response.indexOf('\r\n')).toString('latin1');
    if (!/^HTTP\/1\.[01] 200 /.test(status)) throw new Error(`nginx answered "${status}"`);
    const bin = await captured;
    const want = 4 + bin.readUInt16LE(1) + c.expectedBody.length;
    if (bin.length !== want) throw new Error(`recorder read ${bin.length} bytes, expected 4 + datasize + body = ${want}`);
    if (!bin.subarray(bin.length - c.expectedBody.length).equals(c.expectedBody)) {
      throw new Error('body after the var block differs from what the client sent');
    }
    return bin;
  })();
  return withTimeout(work, CASE_TIMEOUT_MS, `case ${c.name}`);
}

async function main(): Promise<void> {
  const bin = findNginx();
  const version = capturedWith(bin);
  const outDir = path.join(repoRoot(), 'fixtures', 'nginx');
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'nuwsgi-capture-'));
  chmodSync(tmp, 0o755);
  const recorder = new Recorder(tmp);
  await recorder.listen();
  let nginx: NginxInstance | undefined;
  try {
    nginx = await startNginx({
      upstream: `unix:${recorder.socketPath}`,
      // Default 4x8k rejects the 20 KiB long-header case with 400.
      serverExtra: `large_client_header_buffers 4 64k;\n        root ${DOCUMENT_ROOT};`,
    });
    // Capture everything first, write after: a failing run leaves the old set intact.
    const results: { c: Case; bin: Buffer }[] = [];
    for (const c of CASES) {
      let captured: Buffer;
      try {
        captured = await captureCase(c, nginx, recorder);
      } catch (e) {
        throw new Error(`case ${c.name} failed: ${(e as Error).message}\n--- nginx error.log ---\n${nginx.errorLog()}`);
      }
      results.push({ c, bin: captured });
      console.log(`${c.name.padEnd(16)} ${String(captured.length).padStart(6)} bytes  datasize=${captured.readUInt16LE(1)} body=${c.expectedBody.length}`);
    }

    mkdirSync(outDir, { recursive: true });
    for (const { c, bin: bytes } of results) {
      writeFileSync(path.join(outDir, `${c.name}.bin`), bytes);
      const meta = {
        name: c.name,
        captured_with: version,
        uwsgi_params: UWSGI_PARAMS,
        // Vary per run (free port, client port): tests must not pin REMOTE_PORT; SERVER_PORT is this.
        serverPort: nginx.port,
        documentRoot: DOCUMENT_ROOT,
        request: {
          method: c.method,
          target: c.target,
          httpVersion: c.httpVersion,
          headers: c.headers,
          ...describeBody(c.body, 'bodyHex', 'bodySha256'),
          bodyLength: c.body.length,
        },
        // What must follow the var block: differs from request.body only for chunked uploads.
        expectedBodyLength: c.expectedBody.length,
        ...describeBody(c.expectedBody, 'expectedBodyHex', 'expectedBodySha256'),
      };
      writeFileSync(path.join(outDir, `${c.name}.json`), JSON.stringify(meta, null, 2) + '\n');
    }
    console.log(`wrote ${results.length} cases to ${path.relative(process.cwd(), outDir) || outDir}`);
  } finally {
    await nginx?.stop();
    await recorder.close();
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (e: Error) => {
    console.error(`capture-fixtures: ${e.message}`);
    process.exit(1);
  },
);
