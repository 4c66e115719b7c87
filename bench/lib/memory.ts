// The memory check of issue 8: a 64 MiB body passing in either direction must grow a worker's RSS
// by less than 32 MiB. Each direction: reset every worker's peak RSS (VmHWM, /proc/PID/clear_refs),
// note its RSS, pass the body, read the peak again; RSS is also polled every 10 ms as a cross-check.
import { BIG_BYTES, BIG_CHUNK } from './payloads.js';
import { download, upload } from './http.js';
import { peakKiB, resetPeak, rssKiB } from './proc.js';
import type { RunningStack } from './stacks.js';

export const GROWTH_LIMIT_MIB = 32;

export interface Transfer {
  /** Largest growth over the workers, MiB. */
  growthMiB: number;
  ok: boolean;
  detail: string;
}

const mib = (kib: number) => kib / 1024;

async function measure(stack: RunningStack, transfer: () => Promise<string>): Promise<Transfer> {
  const workers = stack.workers();
  const base = new Map(workers.map((p) => [p, rssKiB(p)]));
  const peakReset = workers.every(resetPeak);
  const polled = new Map(base);
  const timer = setInterval(() => {
    for (const p of workers) polled.set(p, Math.max(polled.get(p)!, rssKiB(p)));
  }, 10);
  let detail: string;
  try {
    detail = await transfer();
  } finally {
    clearInterval(timer);
  }
  let growth = 0;
  for (const p of workers) {
    const peak = Math.max(polled.get(p)!, peakReset ? peakKiB(p) : 0, rssKiB(p));
    growth = Math.max(growth, peak - base.get(p)!);
  }
  return { growthMiB: mib(growth), ok: mib(growth) < GROWTH_LIMIT_MIB, detail: detail + (peakReset ? '' : ' (peak from 10 ms polling only)') };
}

export async function bigUpload(stack: RunningStack): Promise<Transfer> {
  const chunk = Buffer.alloc(BIG_CHUNK, 'u');
  return measure(stack, async () => {
    const reply = await upload(`${stack.nginx.baseUrl}/big-upload`, BIG_BYTES, chunk);
    const counted = reply.body.toString().trim();
    if (reply.status !== 200 || counted !== String(BIG_BYTES)) throw new Error(`64 MiB upload: status ${reply.status}, app counted ${counted}`);
    return 'app counted 67108864 bytes';
  });
}

export async function bigDownload(stack: RunningStack): Promise<Transfer> {
  return measure(stack, async () => {
    const reply = await download(`${stack.nginx.baseUrl}/big-download`);
    if (reply.status !== 200 || reply.bytes !== BIG_BYTES) throw new Error(`64 MiB download: status ${reply.status}, ${reply.bytes} bytes`);
    return 'client got 67108864 bytes';
  });
}
