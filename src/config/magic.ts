import { lstatSync, readFileSync, realpathSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { VERSION } from '../version.js';

/**
 * uWSGI's magic variables (%d, %n, %p, ...): substituted in a config file's text as it is read,
 * each describing the file it appears in (core/uwsgi.c config_magic_table_fill; verified against
 * uWSGI 2.0.21: %d keeps its trailing slash, %x is the section only when one was asked for).
 */
export type MagicTable = Record<string, string>;

/** Values shared by every file of one load: start time, user, host, cwd. */
export interface MagicGlobals {
  cwd: string;
  start: number;
  /** The magic table of the first file read: the upper-case twins %D %N ... refer to it. */
  first?: MagicTable;
}

function groupName(gid: number): string {
  try {
    for (const line of readFileSync('/etc/group', 'utf8').split('\n')) {
      const [name, , id] = line.split(':');
      if (Number(id) === gid) return name;
    }
  } catch {
    // no /etc/group: fall back to the number
  }
  return String(gid);
}

function userName(uid: number): string {
  try {
    return os.userInfo().username;
  } catch {
    return String(uid); // no passwd entry (containers)
  }
}

/** djb33x of the path, printed as uWSGI does: the 32-bit hash's bytes in memory (little-endian) order. */
function djb33x(text: string): string {
  let h = 5381;
  for (const byte of Buffer.from(text)) h = (((h << 5) + h) ^ byte) >>> 0;
  const b = Buffer.alloc(4);
  b.writeUInt32LE(h);
  return b.toString('hex').toUpperCase();
}

/** The table for one file: `given` as written (without :section), resolved against globals.cwd. */
export function magicTable(given: string, section: string | undefined, globals: MagicGlobals): MagicTable {
  const abs = path.resolve(globals.cwd, given);
  // uWSGI keeps a symlink's own path (so %d is where the link lives), else the real path.
  let full = abs;
  try {
    if (!lstatSync(abs).isSymbolicLink()) full = realpathSync(abs);
  } catch {
    // unreadable: the caller reports it
  }
  const s = path.basename(full);
  const d = full.slice(0, full.length - s.length);
  const dot = given.lastIndexOf('.');
  const sdot = s.lastIndexOf('.');
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  let inode = '';
  try {
    inode = String(statSync(full).ino);
  } catch {
    // unreadable: the caller reports it
  }
  const table: MagicTable = {
    o: given,
    p: full,
    s,
    d,
    c: path.basename(d),
    e: dot === -1 ? '' : given.slice(dot + 1),
    n: sdot === -1 ? s : s.slice(0, sdot),
    x: section ?? '',
    i: inode,
    j: djb33x(full),
    b: process.argv[1] ?? process.execPath,
    h: os.hostname(),
    k: String(os.cpus().length),
    u: String(uid),
    U: userName(uid),
    g: String(gid),
    G: groupName(gid),
    v: globals.cwd,
    V: VERSION,
    t: String(Math.floor(globals.start / 1000)),
    T: String(globals.start * 1000),
    '[': '\x1b',
  };
  d.split('/')
    .filter(Boolean)
    .slice(0, 10)
    .forEach((part, i) => (table[String(i)] = part));
  for (let i = 0; i < 10; i++) table[String(i)] ??= '';
  globals.first ??= table;
  for (const k of 'ODSPCENX') table[k] = globals.first[k.toLowerCase()];
  return table;
}

/**
 * Substitute %X in a file's text. `%%` is a percent and `%(` starts a placeholder (expanded later);
 * an unknown %X is removed as uWSGI removes it, and reported through onUnknown.
 */
export function applyMagic(text: string, table: MagicTable, onUnknown: (sequence: string, offset: number) => void): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c !== '%') {
      out += c;
      continue;
    }
    const next = text[i + 1];
    if (next === '(') out += '%(';
    else if (next === '%') out += '%';
    else if (next !== undefined && Object.hasOwn(table, next)) out += table[next];
    else onUnknown(next === undefined ? '%' : `%${next}`, i);
    i++;
  }
  return out;
}
