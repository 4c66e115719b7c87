// Hono 4, unchanged: a Fetch app (`export default app`, Hono's `app.fetch`). nuwsgi passes
// { incoming, outgoing } as c.env (Hono's Node bindings), so @hono/node-server helpers such as
// getConnInfo work.
//   nuwsgi --socket /run/app/app.sock --chmod-socket=666 examples/hono/app.mjs
import { getConnInfo } from '@hono/node-server/conninfo';
import { Hono } from 'hono';
import { setCookie } from 'hono/cookie';

const app = new Hono();

app.get('/info', (c) => {
  const url = new URL(c.req.url);
  return c.json({ hono: 4, ip: getConnInfo(c).remote.address, protocol: url.protocol.slice(0, -1), hostname: url.hostname, url: c.req.url, query: c.req.query() });
});
app.post('/json', async (c) => c.json({ received: await c.req.json() }, 201));
app.get('/cookies', (c) => {
  setCookie(c, 'session', 'abc', { httpOnly: true, secure: new URL(c.req.url).protocol === 'https:' });
  setCookie(c, 'theme', 'dark');
  return c.text('two cookies\n');
});

export default app;
