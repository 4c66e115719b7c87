// A server script as it runs without nuwsgi (`node server.cjs`): it creates its server and calls
// listen(3000) itself, and exports nothing. Under nuwsgi that listen() is captured, never bound
// (the master owns the sockets): requests from nginx arrive on this very server, address()
// answers { port: 3000 }, and the callback runs.
//   nuwsgi --socket /run/app/app.sock --chmod-socket=666 examples/listen-script/server.cjs
const http = require('node:http');

const server = http.createServer((req, res) => {
  res.setHeader('Content-Type', 'application/json');
  res.end(JSON.stringify({ script: true, url: req.url, ip: req.socket.remoteAddress, address: server.address() }));
});

server.listen(process.env.PORT || 3000, () => console.log(`listen-script example listening on ${JSON.stringify(server.address())}`));
