import { unlinkSync, writeFileSync } from 'node:fs';

export function writePidfile(path: string): void {
  writeFileSync(path, `${process.pid}\n`);
}

export function removeFile(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}
