// The sizes of a raw HTTP response as uWSGI's request log counts them, shared by the tests that
// compare log lines with the bytes exchanged.

export interface Head {
  status: number;
  /** Header lines (no status line, no blank line). */
  headers: number;
  /** Bytes before the body: status line, headers, blank line. */
  hsize: number;
  rsize: number;
  text: string;
}

export function parseHead(buf: Buffer): Head {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) throw new Error(`no end of head in ${JSON.stringify(buf.toString('latin1').slice(0, 300))}`);
  const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
  return { status: Number(lines[0].split(' ')[1]), headers: lines.length - 1, hsize: end + 4, rsize: buf.length - end - 4, text: buf.subarray(0, end + 4).toString('latin1') };
}
