// The app of the HTTP-path deployment test: a plain http server plus a `ws` WebSocketServer on it,
// as apps are written for node:http. GET answers which upstream connection carried the request
// (nginx's side of it: its port tells keep-alive reuse apart) and the forwarding headers nginx set.
import http from 'node:http';
import { WebSocketServer } from 'ws';

const server = http.createServer((req, res) => {
  const body = JSON.stringify({
    url: req.url,
    upstreamPort: req.socket.remotePort,
    forwardedFor: req.headers['x-forwarded-for'] ?? null,
    forwardedProto: req.headers['x-forwarded-proto'] ?? null,
    host: req.headers.host ?? null,
  });
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
});

const wss = new WebSocketServer({ server });
wss.on('connection', (ws, req) => {
  ws.send(`hello ${req.headers['x-forwarded-for']}, you asked for ${req.url}`);
  ws.on('message', (data, isBinary) => ws.send(isBinary ? data : `echo: ${data}`, { binary: isBinary }));
});

server.listen(3000);
