// App for the identity tests: answers the worker's pid, uid, gid and groups as JSON.
export default function app(req, res) {
  req.resume();
  const body = JSON.stringify({ pid: process.pid, uid: process.getuid(), gid: process.getgid(), groups: process.getgroups() });
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}
