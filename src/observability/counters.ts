import type { RequestRecord } from './record.js';

/** Latency histogram bucket bounds, seconds (Prometheus' defaults). */
export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * A worker's request counters: kept by the worker, sent to the master in every heartbeat, and
 * summed by the master for the stats socket and the metrics endpoint. Plain numbers only, so they
 * cross IPC as JSON.
 */
export interface RequestCounters {
  requests: number;
  exceptions: number;
  harakiri: number;
  /** Response bytes sent (headers and body). */
  tx: number;
  /** Total time spent in requests, µs (uWSGI's running_time). */
  runningTimeUs: number;
  /** uWSGI's avg_rt: a running (previous + current) / 2 average, µs. */
  avgRtUs: number;
  /** Responses by status class: index 0 for 1xx ... 4 for 5xx. */
  byClass: number[];
  /** Non-cumulative counts per LATENCY_BUCKETS bound, plus one for +Inf. */
  latency: number[];
  latencySumUs: number;
  /** Responses that did not finish (client gone, connection cut). */
  ioErrors: number;
}

export function newCounters(): RequestCounters {
  return {
    requests: 0,
    exceptions: 0,
    harakiri: 0,
    tx: 0,
    runningTimeUs: 0,
    avgRtUs: 0,
    byClass: [0, 0, 0, 0, 0],
    latency: new Array<number>(LATENCY_BUCKETS.length + 1).fill(0),
    latencySumUs: 0,
    ioErrors: 0,
  };
}

/** What the counters need of one finished request: a RequestRecord has it, and so has the cheaper Outcome. */
export interface Outcome {
  status: number;
  durationUs: number;
  /** Bytes sent: head and body. */
  tx: number;
  ioError: boolean;
}

export function countRequest(c: RequestCounters, r: RequestRecord): void {
  countOutcome(c, { status: r.status, durationUs: r.durationUs, tx: r.rsize + r.hsize, ioError: r.ioError });
}

export function countOutcome(c: RequestCounters, o: Outcome): void {
  c.requests++;
  c.tx += o.tx;
  c.runningTimeUs += o.durationUs;
  c.avgRtUs = c.requests === 1 ? o.durationUs : Math.round((c.avgRtUs + o.durationUs) / 2);
  const cls = Math.floor(o.status / 100) - 1;
  if (cls >= 0 && cls < 5) c.byClass[cls]++;
  const seconds = o.durationUs / 1e6;
  let bucket = 0;
  while (bucket < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[bucket]) bucket++;
  c.latency[bucket]++;
  c.latencySumUs += o.durationUs;
  if (o.ioError) c.ioErrors++;
}

/**
 * into += from (or -= with sign -1), for every additive counter (avgRtUs is not additive and is
 * left alone).
 */
export function addCounters(into: RequestCounters, from: RequestCounters, sign: 1 | -1 = 1): void {
  into.requests += sign * from.requests;
  into.exceptions += sign * from.exceptions;
  into.harakiri += sign * from.harakiri;
  into.tx += sign * from.tx;
  into.runningTimeUs += sign * from.runningTimeUs;
  into.latencySumUs += sign * from.latencySumUs;
  into.ioErrors += sign * from.ioErrors;
  from.byClass.forEach((n, i) => (into.byClass[i] += sign * n));
  from.latency.forEach((n, i) => (into.latency[i] += sign * n));
}
