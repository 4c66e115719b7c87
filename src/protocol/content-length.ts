import { ProtocolError } from './errors.js';

/**
 * The body length is the CONTENT_LENGTH var only (protocol.md §1.3): empty or absent means no
 * body. Unlike uWSGI's digits-prefix parser, anything but plain digits is refused, so a request
 * whose framing is ambiguous never reaches the app.
 */
export function parseContentLength(value: string | undefined): number {
  if (value === undefined || value === '') return 0;
  if (!/^[0-9]{1,15}$/.test(value)) {
    throw new ProtocolError(`invalid CONTENT_LENGTH ${JSON.stringify(value.slice(0, 32))}`, 400);
  }
  return Number(value);
}
