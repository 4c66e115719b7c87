// Fastify 5, unchanged: it awaits fastify.listen() itself. Under nuwsgi the listen is captured,
// the promise resolves as usual, and requests arrive through Fastify's own server.
//   nuwsgi --socket /run/app/app.sock --chmod-socket=666 examples/fastify/app.mjs
// request.ip / request.protocol come from nginx's REMOTE_ADDR / HTTPS (no trustProxy needed).
import Fastify from 'fastify';

const app = Fastify();

app.get('/info', async (request) => ({ fastify: 5, ip: request.ip, protocol: request.protocol, hostname: request.hostname, url: request.url, query: request.query }));
app.post('/json', async (request, reply) => reply.code(201).send({ received: request.body }));
app.get('/cookies', async (request, reply) => {
  reply.header('set-cookie', [`session=abc; HttpOnly${request.protocol === 'https' ? '; Secure' : ''}`, 'theme=dark']);
  return 'two cookies\n';
});

await app.listen({ port: 3000 });
console.log('fastify example listening on :3000');
