// The response bodies every stack serves, built the same way in bench_app.py (byte for byte).
export const HELLO = 'Hello, World!\n';

/** A list of records whose compact JSON is about 16 KiB: built by each app, serialised per request. */
export function jsonDoc() {
  const items = [];
  for (let i = 0; i < 176; i++) {
    items.push({ id: i, name: `item-${i}`, tags: ['alpha', 'beta', 'gamma'], priceCents: i * 150, active: i % 2 === 0 });
  }
  return { count: items.length, items };
}

export const DOWNLOAD_BYTES = 1024 * 1024;
export const UPLOAD_BYTES = 100 * 1024;
/** The memory check: one body of this size in each direction. */
export const BIG_BYTES = 64 * 1024 * 1024;
export const BIG_CHUNK = 1024 * 1024;
/** The async workload: each request waits this long (a timer standing in for a database). */
export const SLEEP_MS = 50;
