// The bench's Node app: one (req, res) listener with a route per workload, served unchanged by
// nuwsgi (uwsgi_pass and --http-socket) and by node:http in cluster mode (node-cluster.mjs).
// bench_app.py is the same app for uWSGI + Python.
import { BIG_BYTES, BIG_CHUNK, DOWNLOAD_BYTES, HELLO, SLEEP_MS, jsonDoc } from './payloads.mjs';

const hello = Buffer.from(HELLO);
const doc = jsonDoc();
const download = Buffer.alloc(DOWNLOAD_BYTES, 'x');
const bigChunk = Buffer.alloc(BIG_CHUNK, 'y');

function send(res, type, body) {
  res.writeHead(200, { 'Content-Type': type, 'Content-Length': body.length });
  res.end(body);
}

/** Reads the whole body, keeping only its length (the upload workloads and the 64 MiB check). */
function countBody(req, res) {
  let n = 0;
  req.on('data', (chunk) => (n += chunk.length));
  req.on('end', () => send(res, 'text/plain', Buffer.from(`${n}\n`)));
}

/** 64 MiB in 1 MiB writes, waiting for 'drain': the server must not buffer what the peer has not taken. */
function streamBig(res) {
  res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': BIG_BYTES });
  let sent = 0;
  const pump = () => {
    while (sent < BIG_BYTES) {
      sent += BIG_CHUNK;
      if (!res.write(bigChunk)) return void res.once('drain', pump);
    }
    res.end();
  };
  pump();
}

export default function app(req, res) {
  switch (req.url) {
    case '/hello':
      return send(res, 'text/plain', hello);
    case '/json':
      return send(res, 'application/json', Buffer.from(JSON.stringify(doc)));
    case '/download':
      return send(res, 'application/octet-stream', download);
    case '/upload':
    case '/big-upload':
      return countBody(req, res);
    case '/sleep':
      return void setTimeout(() => send(res, 'text/plain', hello), SLEEP_MS);
    case '/big-download':
      return streamBig(res);
    default:
      res.writeHead(404, { 'Content-Type': 'text/plain', 'Content-Length': 10 });
      res.end('not found\n');
  }
}
