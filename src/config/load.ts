import { readFileSync } from 'node:fs';
import path from 'node:path';
import { argvEntries } from './argv.js';
import { where, type Entry, type Origin } from './entries.js';
import { envEntries } from './env.js';
import { ConfigError } from './errors.js';
import { expandEntries } from './expand.js';
import { parseIni, type RawEntry } from './ini.js';
import { JsonError, parseJsonConfig } from './json.js';
import { isLogicOption, Logic, LogicError } from './logic.js';
import { applyMagic, magicTable, type MagicGlobals } from './magic.js';
import { findOption } from './options.js';
import { uwsgiOption } from './uwsgi-known.js';
import { parseXml, XmlError } from './xml.js';

type Format = 'ini' | 'xml' | 'json';

/** Config-loading options (by canonical name): read in place, as uWSGI's UWSGI_OPT_IMMEDIATE ones. */
const LOADERS: Record<string, Format | 'auto'> = { ini: 'ini', xml: 'xml', json: 'json', include: 'auto' };

/** uWSGI config sources nuwsgi does not read: failing beats silently starting without them. */
const UNSUPPORTED = new Set(['yaml', 'yml', 'config', 'sqlite3', 'ldap']);

function formatOf(file: string): Format | undefined {
  const ext = path.extname(file).toLowerCase();
  return ext === '.ini' ? 'ini' : ext === '.xml' ? 'xml' : ext === '.json' || ext === '.js' ? 'json' : undefined;
}

/** Run fn; a config logic error gets the origin of the line that caused it. */
function located<T>(origin: Origin, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof LogicError) throw new ConfigError(`${where(origin)}: ${error.message}`);
    throw error;
  }
}

export interface LoadOptions {
  /** UWSGI_* variables and $(VAR) come from here (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Relative config paths, @(file) and %v resolve against this (default process.cwd()). */
  cwd?: string;
}

export interface Loaded {
  entries: Entry[];
  /** Errors under strict, warnings otherwise (missing sections). */
  problems: string[];
  warnings: string[];
  /** Config files read, in order, as given. */
  files: string[];
  /** Names looked up by %() or if-opt: placeholders in use. */
  referenced: Set<string>;
}

/**
 * Builds uWSGI's ordered option list: UWSGI_* environment first, then the command line in order,
 * every config-loading option (and bare config argument) read where it appears; then the $() @()
 * %() passes; then `inherit` files appended, unexpanded (uWSGI applies them after the passes).
 */
export function loadEntries(argv: readonly string[], options: LoadOptions = {}): Loaded {
  return new Loader(options.env ?? process.env, options.cwd ?? process.cwd()).run(argv);
}

class Loader {
  private readonly entries: Entry[] = [];
  private readonly problems: string[] = [];
  private readonly warnings: string[] = [];
  private readonly files: string[] = [];
  private readonly referenced = new Set<string>();
  /** Files being read, innermost last (path:section), to report include cycles. */
  private readonly stack: { id: string; name: string }[] = [];
  /** `ini = :section` re-reads this one (core/ini.c last_file). */
  private lastIni?: string;
  private readonly globals: MagicGlobals;
  private readonly logic: Logic;

  constructor(
    private readonly env: NodeJS.ProcessEnv,
    private readonly cwd: string,
  ) {
    this.globals = { cwd, start: Date.now() };
    this.logic = new Logic({
      env,
      cwd,
      option: (key) => {
        this.referenced.add(key);
        return this.entries.find((e) => e.key === key)?.value;
      },
    });
  }

  run(argv: readonly string[]): Loaded {
    for (const e of envEntries(this.env)) this.add(e.key, e.value, e.origin);
    for (const e of argvEntries(argv)) this.add(e.key, e.value, e.origin);
    const expanded = expandEntries(this.entries, { env: this.env, cwd: this.cwd });
    for (const name of expanded.referenced) this.referenced.add(name);
    this.warnings.push(...expanded.warnings);
    this.inherit();
    return { entries: this.entries, problems: this.problems, warnings: this.warnings, files: this.files, referenced: this.referenced };
  }

  private push(key: string, value: string, origin: Origin, expand: boolean, placeholder?: boolean): void {
    this.entries.push({ key, value, origin, expand, ...(placeholder ? { placeholder } : {}) });
  }

  /** One option as read: an open logic block may consume it, else it is added. */
  private add(key: string, value: string, origin: Origin): void {
    const emit = (k: string, v: string) => this.addDirect(k, v, origin);
    if (located(origin, () => this.logic.intercept(key, findOption(key)?.name, value, emit))) return;
    if (key === 'end') return; // closes a block; not an option
    this.addDirect(key, value, origin);
  }

  private addDirect(key: string, value: string, origin: Origin): void {
    const name = findOption(key)?.name;
    if (!name && UNSUPPORTED.has(key) && uwsgiOption(key)) {
      throw new ConfigError(`${where(origin)}: ${key} ${value}: nuwsgi reads INI, XML and JSON configuration, not ${key}`);
    }
    if (name && LOADERS[name]) {
      this.push(key, value, origin, false);
      this.load(LOADERS[name], value, origin);
    } else if (name === 'set' || name === 'set-placeholder') {
      this.push(key, value, origin, false);
      this.set(name, value, origin);
    } else if (name && isLogicOption(name)) {
      this.push(key, value, origin, false);
      located(origin, () => this.logic.open(name, value));
    } else this.push(key, value, origin, true);
  }

  /** set/set-placeholder NAME=VALUE (core/uwsgi.c uwsgi_opt_set_placeholder). */
  private set(how: string, value: string, origin: Origin): void {
    const eq = value.indexOf('=');
    if (eq <= 0) throw new ConfigError(`${where(origin)}: ${how} takes NAME=VALUE, not ${JSON.stringify(value)}`);
    const key = value.slice(0, eq);
    const v = value.slice(eq + 1);
    const isOption = findOption(key) !== undefined || uwsgiOption(key) !== undefined;
    if (how === 'set-placeholder') {
      if (isOption) throw new ConfigError(`${where(origin)}: ${key} cannot be a placeholder: it is an option (use set)`);
      this.push(key, v, origin, false, true);
    } else if (isOption) this.add(key, v, origin);
    else this.push(key, v, origin, true, true);
  }

  /** Read one config file in place: FILE, FILE:SECTION (or :ID, :KEY), or :SECTION of the last INI. */
  private load(format: Format | 'auto', spec: string, origin: Origin): void {
    const colon = spec.lastIndexOf(':');
    let file = colon === -1 ? spec : spec.slice(0, colon);
    const section = colon === -1 || colon === spec.length - 1 ? undefined : spec.slice(colon + 1);
    if (file === '') {
      if (format !== 'ini' || !this.lastIni) throw new ConfigError(`${where(origin)}: ${spec}: no INI file read before to take a section from`);
      file = this.lastIni;
    }
    const kind = format === 'auto' ? formatOf(file) : format;
    if (!kind) throw new ConfigError(`${where(origin)}: ${spec}: cannot tell the format from the extension (.ini, .xml or .json)`);
    const abs = path.resolve(this.cwd, file);
    const id = `${abs}:${section ?? ''}`;
    const at = this.stack.findIndex((s) => s.id === id);
    if (at !== -1) {
      const chain = [...this.stack.slice(at).map((s) => s.name), spec].join(' -> ');
      throw new ConfigError(`${where(origin)}: config files include each other in a cycle: ${chain}`);
    }
    let text: string;
    try {
      text = readFileSync(abs, 'utf8');
    } catch (error) {
      const hint = /[$@%]\(/.test(spec) ? ' ($(), @() and %() are not expanded in config file paths, as in uWSGI; use magic variables such as %d)' : '';
      throw new ConfigError(`${where(origin)}: cannot read config file ${file}: ${(error as NodeJS.ErrnoException).code ?? error}${hint}`);
    }
    if (kind === 'ini') this.lastIni = file;
    this.files.push(section === undefined ? file : `${file}:${section}`);
    text = applyMagic(text, magicTable(file, section, this.globals), (sequence, offset) => {
      const line = text.slice(0, offset).split('\n').length;
      this.warnings.push(`${file}:${line}: unknown magic variable ${JSON.stringify(sequence)} removed, as uWSGI does (write %% for a percent sign)`);
    });
    let raw: RawEntry[];
    try {
      if (kind === 'ini') {
        const ini = parseIni(text, section ?? 'uwsgi');
        if (!ini.sectionFound) this.problems.push(`${where(origin)}: ${file} has no [${section ?? 'uwsgi'}] section`);
        raw = ini.entries;
      } else {
        const parsed = kind === 'xml' ? parseXml(text, section) : parseJsonConfig(text, section ?? 'uwsgi');
        for (const w of parsed.warnings) this.warnings.push(`${file}:${w.line}: ${w.message}`);
        raw = parsed.entries;
      }
    } catch (error) {
      if (!(error instanceof XmlError || error instanceof JsonError)) throw error;
      throw new ConfigError(`${file}${error.line ? `:${error.line}` : ''}: ${error.message}`);
    }
    this.stack.push({ id, name: spec });
    try {
      for (const r of raw) this.add(r.key, r.value, { source: 'file', file, line: r.line });
    } finally {
      this.stack.pop();
    }
  }

  /** inherit: after the passes, each named file's options are appended, in list order. */
  private inherit(): void {
    const seen = new Set<string>();
    for (let i = 0; i < this.entries.length; i++) {
      const e = this.entries[i];
      if (findOption(e.key)?.name !== 'inherit') continue;
      const abs = path.resolve(this.cwd, e.value);
      if (seen.has(abs)) throw new ConfigError(`${where(e.origin)}: inherit ${e.value}: inherited more than once (a cycle?)`);
      seen.add(abs);
      this.load('auto', e.value, e.origin);
    }
  }
}
