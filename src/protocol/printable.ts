/**
 * Text from the wire, made safe for one log line: control characters (CR and LF above all, with
 * which a raw uwsgi client could forge whole log lines) are shown as \xHH, and anything past
 * `max` characters is cut. nginx never sends them; the uwsgi socket has no authentication.
 */
export function printable(text: string | undefined, max = 300): string {
  if (text === undefined) return '-';
  // eslint-disable-next-line no-control-regex
  const safe = text.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return safe.length > max ? `${safe.slice(0, max)}... (${text.length} characters)` : safe;
}
