// wrk (Debian package) as the load generator: run it, parse its --latency report.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

export interface WrkOptions {
  url: string;
  seconds: number;
  connections: number;
  threads: number;
  /** wrk's per-request timeout, e.g. "10s" (wrk's default is 2s). */
  timeout?: string;
  /** A wrk Lua script (the upload body). */
  script?: string;
}

export interface WrkResult {
  rps: number;
  requests: number;
  /** Latency percentiles in milliseconds. */
  p50: number;
  p90: number;
  p99: number;
  /** Responses other than 2xx/3xx, plus socket errors (connect, read, write, timeout). */
  errors: number;
  errorText: string;
  raw: string;
}

const UNITS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

function ms(text: string | undefined): number {
  const m = text && /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  return m ? Number(m[1]) * UNITS[m[2]] : NaN;
}

export function parseWrk(raw: string): WrkResult {
  const pct = (p: string) => ms(new RegExp(`^\\s+${p}%\\s+(\\S+)`, 'm').exec(raw)?.[1]);
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(raw)?.[1] ?? 0);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(raw);
  const sockErrors = sock ? sock.slice(1).map(Number) : [0, 0, 0, 0];
  const parts = [];
  if (non2xx) parts.push(`${non2xx} non-2xx`);
  ['connect', 'read', 'write', 'timeout'].forEach((k, i) => sockErrors[i] && parts.push(`${sockErrors[i]} ${k}`));
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(raw)?.[1] ?? NaN),
    requests: Number(/(\d+) requests in/.exec(raw)?.[1] ?? NaN),
    p50: pct('50'),
    p90: pct('90'),
    p99: pct('99'),
    errors: non2xx + sockErrors.reduce((a, b) => a + b, 0),
    errorText: parts.join(', '),
    raw,
  };
}

export async function wrk(o: WrkOptions): Promise<WrkResult> {
  const args = [`-t${o.threads}`, `-c${o.connections}`, `-d${o.seconds}s`, '--latency'];
  if (o.timeout) args.push('--timeout', o.timeout);
  if (o.script) args.push('-s', o.script);
  args.push(o.url);
  const { stdout, stderr } = await promisify(execFile)('wrk', args, { maxBuffer: 16 * 1024 * 1024 });
  return parseWrk(`$ wrk ${args.join(' ')}\n${stdout}${stderr}`);
}
