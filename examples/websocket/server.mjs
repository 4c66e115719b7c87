// WebSocket with the `ws` package, unchanged: the usual http server + WebSocketServer, listening
// on port 3000. Under nuwsgi the listen() is captured and the upgrade arrives through nginx
// (`include uwsgi_params; uwsgi_pass ...;` is all it takes: nginx tunnels the 101).
import http from 'node:http';
import { WebSocketServer } from 'ws';

const server = http.createServer((req, res) => {
  res.setHeader('Content-Type', 'text/plain');
  res.end('connect a WebSocket client to this URL\n');
});

const wss = new WebSocketServer({ server });
wss.on('connection', (ws, req) => {
  ws.send(`hello ${req.socket.remoteAddress}, you asked for ${req.url}`);
  ws.on('message', (data, isBinary) => ws.send(isBinary ? data : `echo: ${data}`, { binary: isBinary }));
});

server.listen(3000, () => console.log('websocket example listening on :3000'));
