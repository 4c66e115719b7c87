import WebSocket from 'ws';

/** Open a WebSocket (from `localAddress`), send one message, collect what comes back, close with 1000. */
export function wsRoundTrip(url: string, localAddress = '127.0.0.1'): Promise<{ messages: string[]; code: number }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { localAddress, rejectUnauthorized: false });
    const messages: string[] = [];
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`${url}: no WebSocket round trip in 10 s (got ${JSON.stringify(messages)})`));
    }, 10_000);
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c));
      res.on('end', () => {
        clearTimeout(timer);
        reject(Object.assign(new Error(`HTTP ${res.statusCode}: ${body}`), { status: res.statusCode, body }));
      });
    });
    ws.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    ws.on('open', () => ws.send('ping 1'));
    ws.on('message', (data) => {
      messages.push(String(data));
      if (messages.length === 2) ws.close(1000, 'done');
    });
    ws.on('close', (code) => {
      clearTimeout(timer);
      resolve({ messages, code });
    });
  });
}
