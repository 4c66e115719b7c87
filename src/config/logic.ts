import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** A config logic problem; the loader adds where it happened. */
export class LogicError extends Error {}

/** Keys that close a block (uWSGI accepts all five). */
const END = new Set(['end', 'endfor', 'end-for', 'endif', 'end-if']);

type Emit = (key: string, value: string) => void;

/** The test of one block kind: the items to emit each line for ([] = drop the line), given the argument. */
type Block = (arg: string, lookup: LogicContext) => string[];

export interface LogicContext {
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** First value of an entry with this key read so far (if-opt), as uWSGI's uwsgi_get_exported_opt. */
  option(key: string): string | undefined;
}

/** GLOB_NOCHECK | GLOB_MARK semantics for * and ? in the last path component (enough for configs). */
function glob(pattern: string, cwd: string): string[] {
  const dir = path.dirname(pattern);
  const base = path.basename(pattern);
  if (!/[*?]/.test(base)) return [pattern];
  const re = new RegExp(`^${base.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
  let names: string[] = [];
  try {
    names = readdirSync(path.resolve(cwd, dir)).filter((n) => re.test(n) && !n.startsWith('.')).sort();
  } catch {
    // unreadable directory: no match
  }
  if (names.length === 0) return [pattern];
  return names.map((n) => {
    const p = dir === '.' && !pattern.startsWith('./') ? n : path.join(dir, n);
    return statSync(path.resolve(cwd, p), { throwIfNoEntry: false })?.isDirectory() ? `${p}/` : p;
  });
}

/** NAME or NAME=VALUE tests: the value found, if it passes. */
function keyTest(arg: string, find: (name: string) => string | undefined): string | undefined {
  const eq = arg.indexOf('=');
  const found = find(eq === -1 ? arg : arg.slice(0, eq));
  return found !== undefined && (eq === -1 || found === arg.slice(eq + 1)) ? found : undefined;
}

const exists = (p: string, c: LogicContext) => existsSync(path.resolve(c.cwd, p));
const isFile = (p: string, c: LogicContext) => statSync(path.resolve(c.cwd, p), { throwIfNoEntry: false })?.isFile() ?? false;
const isDir = (p: string, c: LogicContext) => statSync(path.resolve(c.cwd, p), { throwIfNoEntry: false })?.isDirectory() ?? false;
const when = (ok: boolean, item: string) => (ok ? [item] : []);

/** uWSGI's config logic (core/config.c uwsgi_logic_opt_*): what %(_) is for each kept line. */
const BLOCKS: Record<string, Block> = {
  for: (arg) => arg.split(' ').filter(Boolean),
  'for-times': (arg) => Array.from({ length: Math.max(0, parseInt(arg, 10) || 0) }, (_, i) => String(i + 1)),
  'for-glob': (arg, c) => glob(arg, c.cwd),
  'for-readline': (arg, c) => {
    try {
      return readFileSync(path.resolve(c.cwd, arg), 'utf8').split('\n').filter((l, i, all) => i < all.length - 1 || l !== '').map((l) => l.replace(/[\r\n]+$/, ''));
    } catch (error) {
      throw new LogicError(`for-readline ${arg}: ${(error as NodeJS.ErrnoException).code ?? error}`);
    }
  },
  'if-env': (arg, c) => {
    const v = keyTest(arg, (n) => c.env[n]);
    return v === undefined ? [] : [v];
  },
  'if-not-env': (arg, c) => when(keyTest(arg, (n) => c.env[n]) === undefined, c.env[arg.split('=')[0]] ?? ''),
  'if-opt': (arg, c) => {
    const v = keyTest(arg, (n) => c.option(n));
    return v === undefined ? [] : [v];
  },
  'if-not-opt': (arg, c) => when(keyTest(arg, (n) => c.option(n)) === undefined, c.option(arg.split('=')[0]) ?? ''),
  'if-exists': (arg, c) => when(exists(arg, c), arg),
  'if-not-exists': (arg, c) => when(!exists(arg, c), arg),
  'if-file': (arg, c) => when(isFile(arg, c), arg),
  'if-not-file': (arg, c) => when(!isFile(arg, c), arg),
  'if-dir': (arg, c) => when(isDir(arg, c), arg),
  'if-not-dir': (arg, c) => when(!isDir(arg, c), arg),
  'if-hostname': (arg) => when(os.hostname() === arg, arg),
  'if-not-hostname': (arg) => when(os.hostname() !== arg, arg),
  'if-reload': () => [],
  'if-not-reload': () => [''],
  'if-plugin': () => [],
  'if-not-plugin': (arg) => [arg],
};

export function isLogicOption(name: string): boolean {
  return Object.hasOwn(BLOCKS, name);
}

/**
 * The open block, if any. uWSGI applies a block line by line as options are read: each line up
 * to `end*` is emitted once per item with %(_) replaced (for), or kept only when the test holds
 * (if-*); `else` keeps the lines when the preceding if failed. Blocks do not nest.
 */
export class Logic {
  private block?: { name: string; arg: string; items?: string[] };
  private failed = false;

  constructor(private readonly ctx: LogicContext) {}

  /** True when the line was consumed by the open block (emitted or dropped). */
  intercept(key: string, canonical: string | undefined, value: string, emit: Emit): boolean {
    if (END.has(key) || (canonical !== undefined && END.has(canonical))) {
      this.block = undefined;
      this.failed = false;
      return false;
    }
    if (key === 'else') {
      this.block = { name: 'else', arg: '' };
      return true;
    }
    if (!this.block) return false;
    if (canonical !== undefined && isLogicOption(canonical)) {
      throw new LogicError(`${key} inside ${this.block.name}: config logic blocks do not nest (as in uWSGI)`);
    }
    if (this.block.name === 'else') {
      if (this.failed) emit(key, value);
      return true;
    }
    // A for block's items are fixed when it opens; an if is tested again on each line, as uWSGI does.
    const items = this.block.items ?? BLOCKS[this.block.name](this.block.arg, this.ctx);
    this.failed = items.length === 0;
    for (const item of items) emit(key, value.split('%(_)').join(item));
    return true;
  }

  /** An option that opens a block. */
  open(name: string, arg: string): void {
    const items = BLOCKS[name](arg, this.ctx);
    this.block = { name, arg, ...(name.startsWith('for') ? { items } : {}) };
    this.failed = items.length === 0;
  }
}
