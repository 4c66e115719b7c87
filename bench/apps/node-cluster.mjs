// What Node users run today: node:http in cluster mode (the primary accepts, round-robin to the
// workers) serving an app module's default export. Usage: node node-cluster.mjs PORT WORKERS APP
// Prints "ready" once every worker listens; SIGTERM stops the workers, then the primary.
import cluster from 'node:cluster';
import http from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [port, workers, appFile] = process.argv.slice(2);

if (cluster.isPrimary) {
  let listening = 0;
  for (let i = 0; i < Number(workers); i++) cluster.fork();
  cluster.on('listening', () => {
    if (++listening === Number(workers)) console.log('ready');
  });
  process.on('SIGTERM', () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.kill();
    process.exit(0);
  });
} else {
  const { default: app } = await import(pathToFileURL(path.resolve(appFile)).href);
  http.createServer(app).listen(Number(port), '127.0.0.1');
}
