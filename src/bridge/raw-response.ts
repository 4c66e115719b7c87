import { STATUS_CODES } from 'node:http';

/**
 * A complete HTTP/1.1 response for the server's own answers (400, 431, 500, 504), written
 * straight to the socket when the app's ServerResponse cannot be used.
 */
export function rawResponse(status: number, message = STATUS_CODES[status] ?? 'Error'): Buffer {
  const body = `${status} ${STATUS_CODES[status] ?? ''}\n${message === STATUS_CODES[status] ? '' : message + '\n'}`;
  return Buffer.from(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
      'Content-Type: text/plain; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Connection: close\r\n\r\n' +
      body,
    'latin1',
  );
}
