// A bare bridge server for the hardening tests: one process, test/apps/hard-app.mjs behind
// src/bridge/connection.ts on a unix socket, with ConnectionOptions given as JSON. It exercises
// the bridge's own limits (limit-post, max-connections, socket-timeout) exactly as a worker runs
// them, without the master; the CLI tests check the same options end to end.
//   node hard-bridge.mjs SOCKET_PATH '{"limitPost":1048576}'
// Logs go to stderr; "hard-bridge ready" once it accepts.
import { chmodSync } from 'node:fs';
import net from 'node:net';
import { serveUwsgiConnection } from '../../dist/src/bridge/connection.js';
import { makeDispatcher } from '../../dist/src/server/dispatch.js';
import app from './hard-app.mjs';

const [socketPath, json = '{}'] = process.argv.slice(2);
const log = (line) => process.stderr.write(line.endsWith('\n') ? line : line + '\n');
const dispatch = makeDispatcher({ kind: 'node listener', listener: app }, log, () => {});
const options = { bufferSize: 65535, maxVars: 1000, socketTimeoutMs: 4000, lingerMs: 5000, log, dispatch, ...JSON.parse(json) };

process.on('uncaughtException', (error) => {
  log(`hard-bridge: uncaught exception: ${error?.stack ?? error}`);
  process.exit(70);
});
const server = net.createServer((socket) => serveUwsgiConnection(socket, options));
server.listen(socketPath, () => {
  chmodSync(socketPath, 0o666);
  log(`hard-bridge ready (pid ${process.pid})`);
});
process.on('SIGTERM', () => process.exit(0));
