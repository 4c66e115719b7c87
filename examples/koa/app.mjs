// Koa 3, unchanged: export the (req, res) listener Koa gives, app.callback().
//   nuwsgi --socket /run/app/app.sock --chmod-socket=666 examples/koa/app.mjs
// ctx.ip is nginx's REMOTE_ADDR, ctx.protocol is https when nginx sends HTTPS on (app.proxy off).
import Koa from 'koa';
import { Readable } from 'node:stream';

const app = new Koa();
app.use(async (ctx) => {
  if (ctx.path === '/info') {
    ctx.body = { koa: 3, ip: ctx.ip, protocol: ctx.protocol, secure: ctx.secure, hostname: ctx.hostname, url: ctx.url, query: ctx.query };
  } else if (ctx.path === '/json' && ctx.method === 'POST') {
    let raw = '';
    for await (const chunk of ctx.req) raw += chunk;
    ctx.status = 201;
    ctx.body = { received: JSON.parse(raw) };
  } else if (ctx.path === '/cookies') {
    ctx.cookies.set('session', 'abc', { httpOnly: true, secure: ctx.secure });
    ctx.cookies.set('theme', 'dark', { httpOnly: false });
    ctx.body = 'two cookies\n';
  } else if (ctx.path === '/stream') {
    ctx.type = 'text/plain';
    ctx.body = Readable.from(['one\n', 'two\n']);
  }
});

export default app.callback();
