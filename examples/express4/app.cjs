// Express 4, unchanged: CommonJS, `module.exports = app`, no listen().
//   nuwsgi --socket /run/app/app.sock --chmod-socket=666 examples/express4/app.cjs
// No `trust proxy`: behind nuwsgi, req.ip is nginx's $remote_addr and req.protocol is https when
// nginx sends `HTTPS on` (uwsgi_params does), so forged X-Forwarded-* headers are ignored.
// (This repository keeps both Express majors, so it requires the npm alias `express4`;
// your app says require('express').)
const express = require('express4');

const app = express();
app.use(express.json());

app.get('/info', (req, res) => {
  res.json({ express: 4, ip: req.ip, protocol: req.protocol, secure: req.secure, hostname: req.hostname, originalUrl: req.originalUrl, query: req.query });
});
app.post('/json', (req, res) => res.status(201).json({ received: req.body }));
app.get('/cookies', (req, res) => {
  res.cookie('session', 'abc', { httpOnly: true, secure: req.secure });
  res.cookie('theme', 'dark');
  res.send('two cookies\n');
});
app.get('/stream', (req, res) => {
  res.type('text/plain');
  res.write('one\n');
  setTimeout(() => res.end('two\n'), 20);
});

module.exports = app;
