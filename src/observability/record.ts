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
  /** Host, User-Agent and Referer request headers ('' when absent). */
  host: string;
  uagent: string;
  referer: string;
  /** Request Content-Length (0 when absent). */
  cl: number;
  /** The uwsgi packet: var count, size (4 + datasize), modifiers. For http-socket requests, the equivalents. */
  vars: number;
  pktsize: number;
  modifier1: number;
  modifier2: number;
  /** Response body bytes, header bytes, header count. */
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
  /** Worker memory at the end of the request, bytes (for %(rss) / %(vsz) / memory-report). */
  rss: number;
  vsz: number;
}
