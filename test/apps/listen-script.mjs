// An unchanged "server script": it starts its own server on port 3000 and exports nothing.
// Under nuwsgi the listen() is captured (never bound) and requests arrive on this server.
import http from 'node:http';

const server = http.createServer((req, res) => {
  res.setHeader('Content-Type', 'application/json');
  res.end(JSON.stringify({ from: 'listen-script', url: req.url, address: server.address(), listening: server.listening }));
});
server.listen(3000, () => console.log(`listening on ${JSON.stringify(server.address())}`));
