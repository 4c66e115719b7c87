import { readFileSync } from 'node:fs';
import path from 'node:path';
import { where, type Entry } from './entries.js';
import { ConfigError } from './errors.js';

/** Deeper than this is a runaway, not a configuration. */
const MAX_DEPTH = 32;

class ExpansionError extends Error {}

/** A resolver returns the fully expanded replacement for SYMBOL(name), or undefined to leave it. */
type Resolver = (name: string, chain: string[]) => string | undefined;

/** Index of the `)` closing the `(` at `open`, counting nested parentheses as uWSGI does. */
function closing(value: string, open: number): number {
  let depth = 0;
  for (let i = open + 1; i < value.length; i++) {
    if (value[i] === '(') depth++;
    else if (value[i] === ')' && depth-- === 0) return i;
  }
  return -1;
}

function expandValue(value: string, symbol: string, resolve: Resolver, chain: string[]): string {
  let out = '';
  let i = 0;
  while (i < value.length) {
    const close = value[i] === symbol && value[i + 1] === '(' ? closing(value, i + 1) : -1;
    if (close === -1) {
      out += value[i++];
      continue;
    }
    const replacement = resolve(value.slice(i + 2, close), chain);
    out += replacement ?? value.slice(i, close + 1);
    i = close + 1;
  }
  return out;
}

/** Enter `name` (a reference such as "%(a)") or fail: a cycle, or a runaway depth. */
function enter(chain: string[], name: string): string[] {
  if (chain.includes(name)) throw new ExpansionError(`cycle: ${[...chain.slice(chain.indexOf(name)), name].join(' -> ')}`);
  if (chain.length >= MAX_DEPTH) throw new ExpansionError(`expansion deeper than ${MAX_DEPTH}: ${chain.join(' -> ')}`);
  return [...chain, name];
}

/** strtoll: the leading integer of the text, or 0. */
function leadingInt(text: string): bigint {
  const m = /^\s*[+-]?\d+/.exec(text);
  return m ? BigInt(m[0].trim()) : 0n;
}

/**
 * uWSGI's placeholder math (core/config.c uwsgi_manage_placeholder): space-separated tokens left to
 * right; numbers are literal, + - * / apply to the next operand, ++ and -- step the running value,
 * other tokens are option values ('' when unset), and adjacent operands concatenate.
 */
function math(expression: string, operand: (token: string) => string): string | undefined {
  let current: string | undefined;
  let op: string | undefined;
  for (const token of expression.split(' ').filter(Boolean)) {
    if (['+', '-', '*', '/'].includes(token)) {
      op = token;
      continue;
    }
    if (token === '++' || token === '--') {
      if (current !== undefined) current = String(BigInt.asIntN(64, leadingInt(current) + (token === '++' ? 1n : -1n)));
      op = undefined;
      continue;
    }
    const value = /^\d+$/.test(token) ? token : operand(token);
    if (op === undefined) current = (current ?? '') + value;
    else {
      const a = leadingInt(current ?? '');
      const b = leadingInt(value);
      const r = op === '+' ? a + b : op === '-' ? a - b : op === '*' ? a * b : b === 0n ? 0n : a / b;
      current = String(BigInt.asIntN(64, r));
    }
    op = undefined;
  }
  return current;
}

export interface ExpandContext {
  env: NodeJS.ProcessEnv;
  /** @() paths are relative to the working directory, not to the config file (as uWSGI). */
  cwd: string;
}

/**
 * uWSGI's passes over the assembled list (core/uwsgi.c): $(ENV), then @(file), then %(option).
 * Each pass walks the entries in order, rewriting values in place, so a %(name) sees the current
 * value of the first entry called `name`, even one defined later. Unset $(VAR) and %(name) stay as
 * written. Replacements are expanded again by the same pass (uWSGI rescans the value), and a
 * reference that reaches itself is an error where uWSGI would loop forever.
 * Returns every name looked up by %() (placeholders in use, so strict mode accepts them).
 */
export function expandEntries(entries: Entry[], ctx: ExpandContext): { referenced: Set<string>; warnings: string[] } {
  const referenced = new Set<string>();
  const warnings: string[] = [];
  /** Names replaced by the % pass in the entry being expanded (for the log-format warning). */
  let replaced: string[] = [];
  const first = (key: string) => entries.find((e) => e.key === key);

  const env: Resolver = (name, chain) => {
    const v = ctx.env[name];
    return v === undefined ? undefined : expandValue(v, '$', env, enter(chain, `$(${name})`));
  };
  const file: Resolver = (name, chain) => {
    const next = enter(chain, `@(${name})`);
    if (/^[a-z]+:\/\//.test(name)) throw new ExpansionError(`@(${name}): nuwsgi reads plain files only, not uWSGI's ${name.split(':')[0]}:// scheme`);
    let text: string;
    try {
      text = readFileSync(path.resolve(ctx.cwd, name), 'utf8');
    } catch (error) {
      throw new ExpansionError(`cannot read @(${name}): ${(error as NodeJS.ErrnoException).code ?? error} (relative to the working directory ${ctx.cwd}, as in uWSGI)`);
    }
    return expandValue(text.endsWith('\n') ? text.slice(0, -1) : text, '@', file, next);
  };
  const option: Resolver = (name, chain) => {
    if (name.includes(' ')) {
      return math(name, (token) => {
        referenced.add(token);
        const e = first(token);
        return e ? expandValue(e.value, '%', option, enter(chain, `%(${token})`)) : '';
      });
    }
    referenced.add(name);
    const e = first(name);
    if (e && chain.length === 0) replaced.push(name);
    return e && expandValue(e.value, '%', option, enter(chain, `%(${name})`));
  };

  for (const [symbol, resolve] of [['$', env], ['@', file], ['%', option]] as const) {
    for (const entry of entries) {
      if (!entry.expand) continue;
      replaced = [];
      try {
        entry.value = expandValue(entry.value, symbol, resolve, []);
      } catch (error) {
        if (error instanceof ExpansionError) throw new ConfigError(`${where(entry.origin)}: ${entry.key}: ${error.message}`);
        throw error;
      }
      // uWSGI's trap (reference §1.3): log-format's %(status) is a placeholder reference too.
      if (/^log-?format/.test(entry.key) && replaced.length > 0) {
        warnings.push(`${where(entry.origin)}: ${entry.key}: ${replaced.map((n) => `%(${n})`).join(' ')} replaced at config time by the option or placeholder of that name (as uWSGI does); rename it to keep the log variable`);
      }
    }
  }
  return { referenced, warnings };
}
