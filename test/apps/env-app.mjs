// Answers with its pid and what the app sees of MALLOC_TRIM_THRESHOLD_ (test/e2e-apps).
export default function app(req, res) {
  const body = JSON.stringify({ pid: process.pid, trim: process.env.MALLOC_TRIM_THRESHOLD_ ?? null });
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}
