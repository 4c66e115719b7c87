import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';

export interface FetchEnv {
  /** Hono's HttpBindings shape, so @hono/node-server helpers such as getConnInfo work. */
  incoming: IncomingMessage;
  outgoing: ServerResponse;
}

export type FetchHandler = (request: Request, env: FetchEnv, ctx: { waitUntil(p: Promise<unknown>): void }) => Response | Promise<Response>;

function requestHeaders(req: IncomingMessage): Headers {
  const headers = new Headers();
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) headers.append(raw[i], raw[i + 1]);
  return headers;
}

function requestUrl(req: IncomingMessage): string {
  const scheme = (req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';
  return `${scheme}://${req.headers.host ?? 'localhost'}${req.url ?? '/'}`;
}

/** Write a Fetch Response to a Node response, honouring back-pressure and client aborts. */
async function writeResponse(response: Response, res: ServerResponse): Promise<void> {
  const raw: string[] = [];
  response.headers.forEach((value, name) => {
    if (name !== 'set-cookie') raw.push(name, value);
  });
  for (const cookie of response.headers.getSetCookie()) raw.push('set-cookie', cookie);
  res.writeHead(response.status, response.statusText || undefined, raw);
  if (!response.body) {
    res.end();
    return;
  }
  const reader = response.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (res.destroyed) break;
      if (!res.write(value)) {
        await new Promise<void>((resolve) => {
          const go = () => {
            res.off('drain', go);
            res.off('close', go);
            resolve();
          };
          res.on('drain', go);
          res.on('close', go);
        });
      }
    }
  } finally {
    if (res.destroyed) await reader.cancel().catch(() => {});
  }
  res.end();
}

/**
 * A Fetch handler (`export default { fetch }`) as a Node `(req, res)` listener: the request body
 * streams in through Readable.toWeb, the response streams out, and the request's signal aborts
 * when the client goes away before the response is finished.
 */
export function fetchToListener(fetch: FetchHandler) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const controller = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) controller.abort();
    });
    const method = req.method ?? 'GET';
    const hasBody = method !== 'GET' && method !== 'HEAD';
    const request = new Request(requestUrl(req), {
      method,
      headers: requestHeaders(req),
      body: hasBody ? (Readable.toWeb(req) as ReadableStream<Uint8Array>) : undefined,
      signal: controller.signal,
      // Required by undici for a streamed request body.
      duplex: 'half',
    } as RequestInit);
    const response = await fetch(request, { incoming: req, outgoing: res }, { waitUntil: (p) => void Promise.resolve(p).catch(() => {}) });
    if (!(response instanceof Response)) {
      throw new TypeError(`the fetch handler returned ${typeof response}, not a Response`);
    }
    await writeResponse(response, res);
  };
}
