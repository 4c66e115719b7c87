/**
 * glibc's allocator settings for the workers, given through the environment (glibc reads it once,
 * at exec).
 *
 * A worker that takes request bodies allocates and frees a Buffer per read or per upload (100 KiB
 * and more), and V8 frees them in rounds, when its external memory has grown by up to 64 MiB. By
 * default glibc hands freed memory back to the OS as soon as 128 KiB of it sits at the top of the
 * heap (M_TRIM_THRESHOLD), so every round is given back and then faulted in again page by page:
 * in bench/native-probe a 100 KiB upload cost 86 µs of worker CPU this way, 48 µs with the
 * threshold at 64 MiB (the C responder: 33 µs). So workers keep up to 64 MiB of freed heap, the
 * size of V8's rounds. Memory is not lost: it is reused by the next round, and a worker's peak
 * RSS is unchanged; only the drop back after a burst is slower. A value the user exports wins.
 */
export const TRIM_THRESHOLD_ENV = 'MALLOC_TRIM_THRESHOLD_';
export const TRIM_THRESHOLD_BYTES = 64 * 1024 * 1024;

/** What to add to a worker's environment: nothing when the user chose a threshold. */
export function workerMallocEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  return env[TRIM_THRESHOLD_ENV] === undefined ? { [TRIM_THRESHOLD_ENV]: String(TRIM_THRESHOLD_BYTES) } : {};
}
