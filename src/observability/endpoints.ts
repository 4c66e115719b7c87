import { unlinkSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { parseAddress } from '../server/addresses.js';

/** Listen on a unix path or host:port; a leftover socket file from a dead master is replaced. */
async function listen(server: net.Server, spec: string): Promise<void> {
  const address = await parseAddress(spec);
  const attempt = () =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      const done = () => {
        server.off('error', reject);
        resolve();
      };
      if (address.kind === 'unix') server.listen(address.path, done);
      else server.listen(address.port, address.host, done);
    });
  try {
    await attempt();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || address.kind !== 'unix') throw error;
    unlinkSync(address.path);
    await attempt();
  }
}

/**
 * uWSGI's stats server: every connection gets one JSON document, then the connection closes
 * (with HTTP headers first under --stats-http), which is what uwsgitop reads.
 */
export async function startStatsServer(spec: string, opts: { http: boolean; minified: boolean }, snapshot: () => Promise<unknown>): Promise<net.Server> {
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    void snapshot().then((doc) => {
      const json = JSON.stringify(doc, null, opts.minified ? undefined : '\t');
      const head = opts.http ? `HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(json)}\r\n\r\n` : '';
      socket.end(head + json);
    });
  });
  await listen(server, spec);
  return server;
}

/** GET /metrics in the Prometheus text format, on its own listener (never on the app's socket). */
export async function startMetricsServer(spec: string, render: () => Promise<string>): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      return void res.end('metrics are at /metrics\n');
    }
    void render().then((text) => {
      res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
      res.end(req.method === 'HEAD' ? undefined : text);
    });
  });
  await listen(server, spec);
  return server;
}
