// App for the reload-on-rss tests (test/e2e-process-manager.test.ts): every request keeps another
// PM_LEAK_MB (default 20) MB Buffer, filled with data so the pages are resident, and never frees
// it. Answers like life-app: "n=<n> pid=<pid>".
const MB = 1024 * 1024;
const kept = [];
export default function app(req, res) {
  const n = new URL(req.url, 'http://x').searchParams.get('n') ?? '-';
  kept.push(Buffer.alloc(Number(process.env.PM_LEAK_MB ?? 20) * MB, kept.length + 1));
  req.resume();
  const body = `n=${n} pid=${process.pid}`;
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}
