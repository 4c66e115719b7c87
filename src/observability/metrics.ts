import { LATENCY_BUCKETS, type RequestCounters } from './counters.js';

export interface MetricsInput {
  /** All requests ever served by this server: live workers plus those that have exited. */
  totals: RequestCounters;
  inflight: number;
  workers: { id: number; pid: number; rss: number; requests: number; status: string }[];
  respawns: number;
  reloads: number;
  harakiris: number;
  listenQueue: { socket: string; queue: number }[];
  startTime: number;
  logDropped: number;
}

/** Escape a label value for the text exposition format. */
function label(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

/**
 * Prometheus text exposition (format 0.0.4). Written by hand: prom-client aggregates across
 * processes only for node:cluster workers, and nuwsgi's workers report their counters to the
 * master, which is the one place that sees them all.
 */
export function renderMetrics(m: MetricsInput): string {
  const out: string[] = [];
  const family = (name: string, type: string, help: string) => out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);

  family('nuwsgi_requests_total', 'counter', 'Requests answered, by status class.');
  ['1xx', '2xx', '3xx', '4xx', '5xx'].forEach((cls, i) => out.push(`nuwsgi_requests_total{code="${cls}"} ${m.totals.byClass[i]}`));

  family('nuwsgi_request_duration_seconds', 'histogram', 'Time from the request reaching a worker to the end of its response.');
  let cumulative = 0;
  LATENCY_BUCKETS.forEach((bound, i) => {
    cumulative += m.totals.latency[i];
    out.push(`nuwsgi_request_duration_seconds_bucket{le="${bound}"} ${cumulative}`);
  });
  cumulative += m.totals.latency[LATENCY_BUCKETS.length];
  out.push(`nuwsgi_request_duration_seconds_bucket{le="+Inf"} ${cumulative}`);
  out.push(`nuwsgi_request_duration_seconds_sum ${m.totals.latencySumUs / 1e6}`);
  out.push(`nuwsgi_request_duration_seconds_count ${cumulative}`);

  family('nuwsgi_response_bytes_total', 'counter', 'Response bytes sent, headers and body.');
  out.push(`nuwsgi_response_bytes_total ${m.totals.tx}`);
  family('nuwsgi_exceptions_total', 'counter', 'Requests whose handler threw or rejected.');
  out.push(`nuwsgi_exceptions_total ${m.totals.exceptions}`);
  family('nuwsgi_requests_in_flight', 'gauge', 'Requests being handled now.');
  out.push(`nuwsgi_requests_in_flight ${m.inflight}`);

  family('nuwsgi_workers', 'gauge', 'Worker processes in the serving pool.');
  out.push(`nuwsgi_workers ${m.workers.length}`);
  family('nuwsgi_worker_rss_bytes', 'gauge', 'Resident memory of each worker.');
  for (const w of m.workers) out.push(`nuwsgi_worker_rss_bytes{worker="${w.id}",pid="${w.pid}"} ${w.rss}`);
  family('nuwsgi_worker_requests_total', 'counter', 'Requests served by the current process of each worker slot.');
  for (const w of m.workers) out.push(`nuwsgi_worker_requests_total{worker="${w.id}",pid="${w.pid}"} ${w.requests}`);

  family('nuwsgi_worker_respawns_total', 'counter', 'Workers started after the first generation (crashes, recycles, reloads).');
  out.push(`nuwsgi_worker_respawns_total ${m.respawns}`);
  family('nuwsgi_reloads_total', 'counter', 'Completed reloads.');
  out.push(`nuwsgi_reloads_total ${m.reloads}`);
  family('nuwsgi_log_lines_dropped_total', 'counter', 'Log lines lost because the log destination failed (EPIPE, ENOSPC, EIO).');
  out.push(`nuwsgi_log_lines_dropped_total ${m.logDropped}`);
  family('nuwsgi_harakiri_total', 'counter', 'Requests cut by harakiri (504s and killed workers).');
  out.push(`nuwsgi_harakiri_total ${m.harakiris}`);
  family('nuwsgi_listen_queue', 'gauge', 'Connections waiting in the listen queue (TCP sockets; unix sockets report 0).');
  for (const q of m.listenQueue) out.push(`nuwsgi_listen_queue{socket="${label(q.socket)}"} ${q.queue}`);
  family('nuwsgi_start_time_seconds', 'gauge', 'Start time of the master, unix seconds.');
  out.push(`nuwsgi_start_time_seconds ${m.startTime}`);
  return out.join('\n') + '\n';
}
