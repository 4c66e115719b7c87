import { chmodSync, closeSync, lstatSync, statSync, unlinkSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import net from 'node:net';
import { getSystemErrorName } from 'node:util';
import { formatAddress, parseAddress, type Address } from './addresses.js';
import { createServerHandle, type RawServerHandle } from '../node-internals.js';

export type ListenerKind = 'uwsgi' | 'http';

/** What a worker needs to serve a socket the master bound: its kind and the fd it inherits. */
export interface ListenerInfo {
  kind: ListenerKind;
  name: string;
  /** fd number in the worker (the master passes the sockets as extra stdio slots). */
  fd: number;
  backlog: number;
}

/** libuv's raw server handle (TCPWrap / PipeWrap): just what the master uses. */
type RawHandle = RawServerHandle;

export interface BoundListener {
  kind: ListenerKind;
  address: Address;
  name: string;
  handle: RawHandle;
  /** The socket file's inode when bound (unix sockets): tells a deleted or replaced file. */
  inode?: number;
}


/**
 * Probe a socket file: only ECONNREFUSED means nobody listens (a stale file from a dead server).
 * A live server answers, or, with its listen queue full, fails the connect with EAGAIN: taking
 * its path then would cut it off from its front end.
 */
function isLive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.connect({ path });
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', (error: NodeJS.ErrnoException) => resolve(error.code !== 'ECONNREFUSED' && error.code !== 'ENOENT'));
  });
}

async function clearStaleSocket(path: string): Promise<void> {
  let stat;
  try {
    stat = lstatSync(path);
  } catch {
    return;
  }
  if (!stat.isSocket()) throw new Error(`cannot bind ${path}: the path exists and is not a socket`);
  if (await isLive(path)) throw new Error(`cannot bind ${path}: another server is accepting on it (stop it first, or choose another path)`);
  // A socket file left by a server that died: Node would fail with EADDRINUSE forever.
  unlinkSync(path);
}

export async function bindListener(kind: ListenerKind, spec: string, chmodSocket: number | undefined): Promise<BoundListener> {
  const address = await parseAddress(spec);
  let handle: RawHandle | number;
  if (address.kind === 'unix') {
    await clearStaleSocket(address.path);
    handle = createServerHandle(address.path, -1, -1);
  } else {
    handle = createServerHandle(address.host, address.port, address.family);
  }
  if (typeof handle === 'number') {
    throw new Error(`cannot bind ${kind} socket ${spec}: ${getSystemErrorName(handle)}`);
  }
  // Mode first, accept later: nothing listens until a worker calls listen() on this fd.
  if (address.kind === 'unix' && chmodSocket !== undefined) chmodSync(address.path, chmodSocket);
  const inode = address.kind === 'unix' ? lstatSync(address.path).ino : undefined;
  return { kind, address, name: formatAddress(address), handle, inode };
}

/** Why a unix socket's directory is unsafe, if it is: anyone may replace a socket in it. */
export function unsafeDirectory(listener: BoundListener): string | undefined {
  if (listener.address.kind !== 'unix') return undefined;
  const dir = dirname(resolve(listener.address.path));
  const mode = statSync(dir).mode;
  if (!(mode & 0o002)) return undefined;
  return `*** WARNING: the directory ${dir} of unix socket ${listener.address.path} is world-writable: anyone can replace the socket${mode & 0o1000 ? ' (its sticky bit only stops others deleting it)' : ''}; use a directory owned by the service ***`;
}

/** The state of a bound unix socket's file: still ours, gone, or replaced by another file. */
export function socketFileState(listener: BoundListener): 'ours' | 'missing' | 'replaced' {
  if (listener.address.kind !== 'unix') return 'ours';
  try {
    return lstatSync(listener.address.path).ino === listener.inode ? 'ours' : 'replaced';
  } catch {
    return 'missing';
  }
}

/** Unlink unix socket files (--vacuum). */
export function removeSocketFiles(listeners: BoundListener[]): void {
  for (const l of listeners) {
    if (l.address.kind !== 'unix') continue;
    try {
      unlinkSync(l.address.path);
    } catch {
      // already gone
    }
  }
}

/**
 * Close the master's copies of the listening sockets (at stop). The descriptors are closed
 * directly, not through libuv: closing a bound pipe handle would also unlink its path, which is
 * --vacuum's decision alone.
 */
export function closeListeners(listeners: BoundListener[]): void {
  for (const l of listeners) {
    try {
      closeSync(l.handle.fd);
    } catch {
      // already closed
    }
  }
}
