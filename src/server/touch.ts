import { statSync } from 'node:fs';

/**
 * uWSGI's touch options: poll each file's mtime once a second; a change (or the file appearing
 * or disappearing) fires. A missing file is reported once, as uWSGI does.
 */
export class TouchWatcher {
  private readonly mtimes = new Map<string, number | undefined>();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly files: string[],
    private readonly onTouch: (file: string) => void,
    private readonly log: (line: string) => void,
  ) {
    for (const file of files) {
      const mtime = this.mtime(file);
      if (mtime === undefined) this.log(`unable to stat() ${file}, events will be triggered as soon as the file is created`);
      this.mtimes.set(file, mtime);
    }
  }

  start(intervalMs = 1000): void {
    if (this.files.length === 0) return;
    this.timer = setInterval(() => this.poll(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private mtime(file: string): number | undefined {
    try {
      return statSync(file).mtimeMs;
    } catch {
      return undefined;
    }
  }

  private poll(): void {
    for (const file of this.files) {
      const now = this.mtime(file);
      if (now !== this.mtimes.get(file)) {
        this.mtimes.set(file, now);
        this.onTouch(file);
      }
    }
  }
}
