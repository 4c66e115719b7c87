import { fstatSync, readFileSync } from 'node:fs';

/**
 * Connections waiting in a listening socket's accept queue. Linux shows it for TCP listeners in
 * /proc/net/tcp{,6} (rx_queue of the LISTEN row, found by the socket's inode); for unix sockets
 * there is no such row, and 0 is reported, as uWSGI does on a stock kernel.
 */
export function listenQueue(fd: number): number {
  try {
    return listenQueueOfInode(fstatSync(fd).ino);
  } catch {
    return 0;
  }
}

export function listenQueueOfInode(inode: number): number {
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
      if (f.length > 9 && f[3] === '0A' && Number(f[9]) === inode) return parseInt(f[4].split(':')[1], 16);
    }
  }
  return 0;
}
