// Hello world, the smallest app: measures the server, not the app.
const body = Buffer.from('Hello, World!\n');
export default function hello(req, res) {
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': body.length });
  res.end(body);
}
