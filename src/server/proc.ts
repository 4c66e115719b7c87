import { readFileSync } from 'node:fs';

function statusField(pid: number, field: string): number | undefined {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Resident set size of a process in bytes, from /proc (undefined once it is gone). */
export const rssBytes = (pid: number): number | undefined => statusField(pid, 'VmRSS');

/** Virtual memory size of a process in bytes (uWSGI's vsz). */
export const vszBytes = (pid: number): number | undefined => statusField(pid, 'VmSize');

/** The kernel's cap on a listen backlog (net.core.somaxconn), or undefined where unreadable. */
export function somaxconn(): number | undefined {
  try {
    const n = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim());
    return Number.isFinite(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}
