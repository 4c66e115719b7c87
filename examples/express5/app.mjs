// Express 5, unchanged: an ES module that calls app.listen(3000) itself. Under nuwsgi the listen
// is captured (nothing is bound) and the requests nginx sends arrive on that server.
//   nuwsgi --socket /run/app/app.sock --chmod-socket=666 examples/express5/app.mjs
// No `trust proxy` needed: req.ip and req.protocol come from nginx's REMOTE_ADDR and HTTPS.
import express from 'express';

const app = express();
app.use(express.json());

app.get('/info', (req, res) => {
  res.json({ express: 5, ip: req.ip, protocol: req.protocol, secure: req.secure, hostname: req.hostname, originalUrl: req.originalUrl, query: req.query });
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

app.listen(3000, () => console.log('express 5 example listening on :3000'));
