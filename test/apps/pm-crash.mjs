// App for the crash-policy tests: loads (after PM_LOAD_MS, default 0 ms; the worker then reports
// ready), and exits 1 PM_CRASH_MS (default 300) ms later, every time: a crash loop.
await new Promise((resolve) => setTimeout(resolve, Number(process.env.PM_LOAD_MS ?? 0)));
setTimeout(() => process.exit(1), Number(process.env.PM_CRASH_MS ?? 300));
export default function app(req, res) {
  req.resume();
  res.end('alive for now');
}
