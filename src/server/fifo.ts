import { spawnSync } from 'node:child_process';
import { chmodSync, constants, lstatSync, openSync, unlinkSync } from 'node:fs';
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

  constructor(
    private readonly paths: string[],
    private readonly onCommand: (letter: string) => void,
    private readonly log: (line: string) => void,
  ) {}

  /** Opens slot 0; a FIFO that cannot be made is a startup error. */
  start(): void {
    if (this.paths.length > 0) this.socket = this.open(this.paths[0]);
  }

  close(removeFiles: boolean): void {
    this.closed = true;
    this.socket?.destroy();
    if (removeFiles) for (const path of this.paths) removeFile(path);
  }

  private ensureFifo(path: string): void {
    try {
      const stat = lstatSync(path);
      if (!stat.isFIFO()) throw new Error(`master-fifo ${path} exists and is not a FIFO`);
      // Someone else's FIFO (a shared directory, another instance): make our own rather than
      // take commands through a pipe another user controls.
      if (stat.uid !== process.getuid?.()) {
        unlinkSync(path);
        throw Object.assign(new Error('recreate'), { code: 'ENOENT' });
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      // Node has no mkfifo(); coreutils' is on every Linux.
      const made = spawnSync('mkfifo', ['-m', '600', path], { encoding: 'utf8' });
      if (made.status !== 0) throw new Error(`cannot create master-fifo ${path}: ${made.stderr.trim() || made.error}`);
    }
    chmodSync(path, 0o600);
  }

  /** Read `path` (creating the FIFO if missing); throws when it cannot. */
  private open(path: string): net.Socket {
    this.ensureFifo(path);
    // Non-blocking: opening a FIFO for reading would otherwise wait for the first writer.
    const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    const socket = new net.Socket({ fd, readable: true, writable: false });
    socket.on('data', (chunk: Buffer) => {
      for (const letter of chunk.toString('latin1')) this.command(letter);
    });
    socket.on('error', (error) => this.log(`master-fifo ${path}: ${error.message}`));
    // EOF: every writer has gone. uWSGI then reopens the FIFO (recreating it if deleted); here the
    // next reader is opened before this one closes (Node closes it right after 'end'), so the pipe
    // never lacks a reader: a writer arriving in between neither gets EPIPE nor loses its letters.
    // This cannot spin: a non-blocking reader sees EOF only after a writer has come and gone.
    socket.prependListener('end', () => {
      if (this.closed || this.socket !== socket) return;
      // At run time a FIFO problem (path taken by a file, mkfifo denied after --uid) must never
      // take the master, and the whole server, down: log it and keep serving.
      try {
        this.socket = this.open(path);
      } catch (error) {
        this.socket = undefined;
        this.log(`master-fifo: ${(error as Error).message}; master FIFO commands are off until restart`);
      }
    });
    // Closed any other way (a read error): try again in a second rather than go deaf.
    socket.on('close', () => {
      if (this.closed || this.socket !== socket) return;
      this.socket = undefined;
      setTimeout(() => {
        if (this.closed || this.socket) return;
        try {
          this.socket = this.open(path);
        } catch (error) {
          this.log(`master-fifo: ${(error as Error).message}; master FIFO commands are off until restart`);
        }
      }, 1000).unref();
    });
    return socket;
  }

  private command(letter: string): void {
    if (letter >= '0' && letter <= '9') {
      const slot = Number(letter);
      if (slot >= this.paths.length) return this.log(`master-fifo: there is no slot ${slot} (${this.paths.length} FIFO${this.paths.length === 1 ? '' : 's'} configured)`);
      if (slot === this.active) return;
      // The new slot first: if it cannot be read, stay on the current one.
      let next: net.Socket;
      try {
        next = this.open(this.paths[slot]);
      } catch (error) {
        return this.log(`master-fifo: ${(error as Error).message}; staying on slot ${this.active}`);
      }
      this.log(`master-fifo: switching to slot ${slot} (${this.paths[slot]})`);
      const old = this.socket;
      this.active = slot;
      this.socket = next;
      old?.destroy();
      return;
    }
    if (letter === '\n' || letter === '\r' || letter === ' ') return;
    // A letter that fails is logged; it must never take the master down.
    try {
      this.onCommand(letter);
    } catch (error) {
      this.log(`master-fifo: command ${JSON.stringify(letter)} failed: ${(error as Error).stack ?? error}`);
    }
  }
}
