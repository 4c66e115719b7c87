// A Fetch handler app (`export default { fetch }`), for test/e2e-responses.test.ts.
import { createHash } from 'node:crypto';

export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname.endsWith('/json')) {
      return Response.json({ method: request.method, url: request.url, search: url.searchParams.get('q') });
    }
    if (url.pathname.endsWith('/echo')) {
      const body = new Uint8Array(await request.arrayBuffer());
      return Response.json({
        method: request.method,
        contentType: request.headers.get('content-type'),
        declaredLength: request.headers.get('content-length'),
        length: body.length,
        sha256: createHash('sha256').update(body).digest('hex'),
        text: new TextDecoder().decode(body.subarray(0, 64)),
      });
    }
    if (url.pathname.endsWith('/cookies')) {
      const headers = new Headers({ 'content-type': 'text/plain' });
      headers.append('set-cookie', 'session=abc; Path=/; HttpOnly');
      headers.append('set-cookie', 'theme=dark; Path=/');
      return new Response('two cookies', { status: 201, statusText: 'Created', headers });
    }
    return new Response('not found', { status: 404 });
  },
};
