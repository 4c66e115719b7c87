import { spawnSync } from 'node:child_process';
import { chmodSync, constants, lstatSync, openSync } from 'node:fs';
import net from 'node:net';
import { removeFile } from './pidfile.js';

/**
 * uWSGI's master FIFO: named pipes (mode 0600) whose every byte is a command letter. Only the
 * active slot (0 at start, switched by writing a digit) is read; it is reopened, and recreated
 * if deleted, each time its writers go away (EOF), as uWSGI does.
 */
export class MasterFifo {
  private active = 0;
  private socket?: net.Socket;
  private closed = false;
  private lastReopen = 0;

  constructor(
    private readonly paths: string[],
    private readonly onCommand: (letter: string) => void,
    private readonly log: (line: string) => void,
  ) {}

  start(): void {
    if (this.paths.length > 0) this.open();
  }

  close(removeFiles: boolean): void {
    this.closed = true;
    this.socket?.destroy();
    if (removeFiles) for (const path of this.paths) removeFile(path);
  }

  private ensureFifo(path: string): void {
    try {
      if (!lstatSync(path).isFIFO()) throw new Error(`master-fifo ${path} exists and is not a FIFO`);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      // Node has no mkfifo(); coreutils' is on every Linux.
      const made = spawnSync('mkfifo', ['-m', '600', path], { encoding: 'utf8' });
      if (made.status !== 0) throw new Error(`cannot create master-fifo ${path}: ${made.stderr.trim() || made.error}`);
    }
    chmodSync(path, 0o600);
  }

  private open(): void {
    if (this.closed) return;
    const path = this.paths[this.active];
    this.ensureFifo(path);
    // Non-blocking: opening a FIFO for reading would otherwise wait for the first writer.
    const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    const socket = new net.Socket({ fd, readable: true, writable: false });
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      for (const letter of chunk.toString('latin1')) this.command(letter);
    });
    socket.on('error', (error) => this.log(`master-fifo ${path}: ${error.message}`));
    socket.on('close', () => {
      if (this.closed || this.socket !== socket) return;
      // A writer went away: reopen (recreating a deleted FIFO). Never spin if EOF repeats at once.
      const wait = Date.now() - this.lastReopen < 100 ? 100 : 0;
      this.lastReopen = Date.now();
      setTimeout(() => this.open(), wait).unref();
    });
  }

  private command(letter: string): void {
    if (letter >= '0' && letter <= '9') {
      const slot = Number(letter);
      if (slot >= this.paths.length) return this.log(`master-fifo: there is no slot ${slot} (${this.paths.length} FIFO${this.paths.length === 1 ? '' : 's'} configured)`);
      if (slot === this.active) return;
      this.log(`master-fifo: switching to slot ${slot} (${this.paths[slot]})`);
      this.active = slot;
      const old = this.socket;
      this.socket = undefined;
      old?.destroy();
      this.open();
      return;
    }
    if (letter === '\n' || letter === '\r' || letter === ' ') return;
    this.onCommand(letter);
  }
}
