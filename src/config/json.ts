import type { RawEntry } from './ini.js';

/** A parsed JSON value that keeps what uWSGI's yajl tree keeps: number text, key order, duplicates, lines. */
type JsonValue =
  | { kind: 'object'; line: number; members: { key: string; line: number; value: JsonValue }[] }
  | { kind: 'array'; line: number; items: JsonValue[] }
  | { kind: 'scalar'; line: number; text: string };

export class JsonError extends Error {
  constructor(
    message: string,
    readonly line?: number,
  ) {
    super(message);
  }
}

/** A strict JSON reader (RFC 8259) that records line numbers; JSON.parse cannot. */
function parse(text: string): JsonValue {
  let i = 0;
  let line = 1;
  const fail = (what: string): never => {
    throw new JsonError(`malformed JSON: ${what}`, line);
  };
  const ws = () => {
    for (; i < text.length; i++) {
      const c = text[i];
      if (c === '\n') line++;
      else if (c !== ' ' && c !== '\t' && c !== '\r') break;
    }
  };
  const string = (): string => {
    const start = i;
    i++; // opening quote
    for (; i < text.length; i++) {
      const c = text[i];
      if (c === '"') break;
      if (c === '\\') i++;
      else if (c === '\n' || c < ' ') fail('control character in string');
    }
    if (i >= text.length) fail('unterminated string');
    i++;
    try {
      return JSON.parse(text.slice(start, i)) as string;
    } catch {
      return fail('bad escape in string');
    }
  };
  const value = (): JsonValue => {
    ws();
    const at = line;
    const c = text[i];
    if (c === '{') {
      i++;
      const members: { key: string; line: number; value: JsonValue }[] = [];
      ws();
      if (text[i] === '}') return i++, { kind: 'object', line: at, members };
      for (;;) {
        ws();
        if (text[i] !== '"') fail(`expected a "key" but found ${text[i] ? JSON.stringify(text[i]) : 'the end'}`);
        const keyLine = line;
        const key = string();
        ws();
        if (text[i++] !== ':') fail('expected ":" after a key');
        members.push({ key, line: keyLine, value: value() });
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === '}') return i++, { kind: 'object', line: at, members };
        else fail(`expected "," or "}" but found ${text[i] ? JSON.stringify(text[i]) : 'the end'}`);
      }
    }
    if (c === '[') {
      i++;
      const items: JsonValue[] = [];
      ws();
      if (text[i] === ']') return i++, { kind: 'array', line: at, items };
      for (;;) {
        items.push(value());
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === ']') return i++, { kind: 'array', line: at, items };
        else fail(`expected "," or "]" but found ${text[i] ? JSON.stringify(text[i]) : 'the end'}`);
      }
    }
    if (c === '"') return { kind: 'scalar', line: at, text: string() };
    const m = /^(?:true|false|null|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(text.slice(i, i + 400));
    if (!m) fail(c === undefined ? 'unexpected end' : `unexpected ${JSON.stringify(c)}`);
    i += m![0].length;
    // uWSGI's conversion: true is "1", false and null are "0", numbers keep their text.
    const t = m![0];
    return { kind: 'scalar', line: at, text: t === 'true' ? '1' : t === 'false' || t === 'null' ? '0' : t };
  };
  const result = value();
  ws();
  if (i < text.length) fail(`unexpected ${JSON.stringify(text[i])} after the document`);
  return result;
}

/**
 * The options of a JSON config (core/json.c): the top-level object named `key` ("uwsgi" by default,
 * required); strings as-is, true "1", false/null "0", numbers as written, arrays as repeated options.
 * Nested objects are ignored, as in uWSGI (reported as warnings).
 */
export function parseJsonConfig(text: string, key: string): { entries: RawEntry[]; warnings: { line: number; message: string }[] } {
  const doc = parse(text);
  if (doc.kind !== 'object') throw new JsonError('the document is not an object', doc.line);
  const section = doc.members.find((m) => m.key === key);
  if (!section) throw new JsonError(`no "${key}" object (uWSGI: you must define a object named ${key})`);
  if (section.value.kind !== 'object') throw new JsonError(`"${key}" is not an object`, section.line);
  const entries: RawEntry[] = [];
  const warnings: { line: number; message: string }[] = [];
  for (const member of section.value.members) {
    const values = member.value.kind === 'array' ? member.value.items : [member.value];
    for (const v of values) {
      if (v.kind === 'scalar') entries.push({ key: member.key, value: v.text, line: v.line });
      else warnings.push({ line: v.line, message: `"${member.key}": nested ${v.kind} ignored, as uWSGI does` });
    }
  }
  return { entries, warnings };
}
