// Process facts from /proc: children, RSS, peak RSS, CPU time. Linux only, like the bench.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

let clockTicks: number | undefined;
/** Clock ticks per second of /proc/PID/stat times (getconf CLK_TCK, almost always 100). */
export function ticksPerSecond(): number {
  return (clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100);
}

/** The fields of /proc/PID/stat after the "(comm)" one: index 0 is field 3 (state). */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** Direct children of `pid`, found by scanning every process's parent pid. */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const fields = statFields(Number(name));
    if (fields && Number(fields[1]) === pid) out.push(Number(name));
  }
  return out.sort((a, b) => a - b);
}

function statusKiB(pid: number, key: string): number {
  try {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

/** Resident set size in KiB (VmRSS). */
export const rssKiB = (pid: number) => statusKiB(pid, 'VmRSS');
/** Peak resident set size in KiB since start or the last resetPeak (VmHWM). */
export const peakKiB = (pid: number) => statusKiB(pid, 'VmHWM');

/** Proportional set size in KiB (shared pages divided among the sharers), from smaps_rollup. */
export function pssKiB(pid: number): number {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

/** Resets VmHWM to the current RSS (clear_refs 5); false where not permitted. */
export function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** User + system CPU time of `pid` in seconds (its threads included). */
export function cpuSeconds(pid: number): number {
  const f = statFields(pid);
  if (!f) return NaN;
  // utime and stime are fields 14 and 15; index 0 here is field 3.
  return (Number(f[11]) + Number(f[12])) / ticksPerSecond();
}

export const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
export const mean = (xs: number[]) => (xs.length ? sum(xs) / xs.length : NaN);
export function median(xs: number[]): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/** The whole machine's CPU time in seconds from /proc/stat: busy (not idle or iowait) and total. */
export function machineCpu(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: (total - f[3] - f[4]) / ticksPerSecond(), total: total / ticksPerSecond() };
}

/** CPU seconds of this process's reaped children (wrk, once it has exited). */
export function reapedChildrenCpu(): number {
  const f = statFields(process.pid);
  return f ? (Number(f[13]) + Number(f[14])) / ticksPerSecond() : NaN;
}
