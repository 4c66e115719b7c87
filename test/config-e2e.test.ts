// End to end from config files: the real server started with only `nuwsgi <file>` (the book's
// uwsgi.ini, and the same configuration as XML and as JSON), behind a real nginx, answers 200.
// The files put the socket and master FIFO in $(NUWSGI_TEST_DIR), the server helper's temp dir.

import test from 'ava';
import { statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { httpRequest, startNginx } from './helpers/nginx.js';
import { startServer } from './helpers/server.js';

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../fixtures/configs');

for (const file of ['book.ini', 'book.xml', 'book.json']) {
  test(`nuwsgi ${file} serves through nginx`, async (t) => {
    // nginx's workers run as nobody: the socket must be world-writable (the book leaves that to umask).
    const server = await startServer({ app: 'echo.mjs', bare: true, args: [path.join(FIXTURES, file), '--chmod-socket=666'] });
    const nginx = await startNginx({ upstream: server.upstream });
    try {
      const res = await httpRequest({ method: 'GET', url: `${nginx.baseUrl}/from/${file}?q=1` });
      t.is(res.status, 200, nginx.errorLog());
      const echo = JSON.parse(res.body.toString()) as { method: string; url: string };
      t.deepEqual([echo.method, echo.url], ['GET', `/from/${file}?q=1`]);
      // master-fifo from the file reached the master.
      t.true(statSync(path.join(server.dir, 'master.fifo')).isFIFO());
      t.notRegex(server.output(), /warning/);
    } finally {
      await nginx.stop();
      await server.stop();
    }
  });
}
