// A CommonJS script that calls app.listen() only after an asynchronous start-up step.
const http = require('node:http');

setTimeout(() => {
  http
    .createServer((req, res) => res.end(`late ${req.method} ${req.url}`))
    .listen({ port: 8000, host: '0.0.0.0' });
}, 300);
