/**
 * Everything the request log, the stats and the metrics need to know about one finished request,
 * captured by the worker when the response closes. Field names follow uWSGI's log variables.
 */
export interface RequestRecord {
  /** Request start, ms since the epoch. */
  startMs: number;
  /** Duration in microseconds. */
  durationUs: number;
  method: string;
  /** The raw request target (REQUEST_URI). */
  uri: string;
  /** SERVER_PROTOCOL, e.g. HTTP/1.1. */
  proto: string;
  status: number;
  /** REMOTE_ADDR and REMOTE_USER ('' when absent). */
  addr: string;
  user: string;
  /** Host (HTTP_HOST, else SERVER_NAME), User-Agent and Referer ('' when absent). */
  host: string;
  uagent: string;
  referer: string;
  /** Request Content-Length (0 when absent). */
  cl: number;
  /**
   * The uwsgi packet as uWSGI counts it: `vars` is keys and values counted separately (2 x pairs),
   * `pktsize` the header's datasize (the var block, without the 4-byte header). For http-socket
   * requests, the equivalents.
   */
  vars: number;
  pktsize: number;
  modifier1: number;
  modifier2: number;
  /** Response body bytes; header bytes (status line, header lines, blank line); header lines. */
  rsize: number;
  hsize: number;
  headers: number;
  /** Worker pid and id. */
  pid: number;
  wid: number;
  /** This worker's request count including this one (uWSGI's app count), and the instance-wide count as known. */
  requestCount: number;
  globalCount: number;
  /** The response did not finish (client went away, connection cut). */
  ioError: boolean;
  /** Any request var, for %(var.NAME): uwsgi vars, or HTTP_* built from headers on the HTTP path. */
  var(name: string): string | undefined;
  /** Worker memory at the end of the request, bytes (0 unless memory-report is on, as in uWSGI). */
  rss: number;
  vsz: number;
}
