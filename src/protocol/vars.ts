import { Parser } from 'binary-parser';
import { ProtocolError } from './errors.js';

/** One `uint16le key_len | key | uint16le val_len | value` pair of the var block. */
const pairParser = new Parser()
  .uint16le('keyLength')
  .buffer('key', { length: 'keyLength' })
  .uint16le('valueLength')
  .buffer('value', { length: 'valueLength' });

/** The whole block: pairs until its end, no count, no terminator. */
const blockParser = new Parser().array('pairs', { type: pairParser, readUntil: 'eof' });

interface RawPair {
  keyLength: number;
  key: Buffer;
  valueLength: number;
  value: Buffer;
}

/**
 * The var block as sent: an ordered multimap. nginx 1.22 sends a repeated request header as
 * repeated vars, so nothing here assumes keys are unique. Keys and values are decoded as latin1,
 * byte for byte, as Node's own HTTP parser does for header values.
 */
export class UwsgiVars {
  constructor(
    readonly keys: string[],
    readonly values: string[],
  ) {}

  get size(): number {
    return this.keys.length;
  }

  /** The last value of a key (uWSGI's rule for CGI vars), or undefined. */
  get(key: string): string | undefined {
    for (let i = this.keys.length - 1; i >= 0; i--) {
      if (this.keys[i] === key) return this.values[i];
    }
    return undefined;
  }

  /** Every value of a key, in arrival order. */
  getAll(key: string): string[] {
    const out: string[] = [];
    for (let i = 0; i < this.keys.length; i++) if (this.keys[i] === key) out.push(this.values[i]);
    return out;
  }

  /** A plain object; repeated keys keep their last value. */
  toObject(): Record<string, string> {
    const out: Record<string, string> = {};
    for (let i = 0; i < this.keys.length; i++) out[this.keys[i]] = this.values[i];
    return out;
  }
}

/**
 * Decode a var block strictly (protocol.md §8 rule 2): every length must fit inside the block,
 * keys are never empty, nothing is left over, and the pair count is capped.
 */
export function decodeVars(block: Buffer, maxVars: number): UwsgiVars {
  let pairs: RawPair[];
  try {
    pairs = (blockParser.parse(block) as { pairs: RawPair[] }).pairs;
  } catch {
    // DataView throws when a length field itself runs past the end of the block.
    throw new ProtocolError(`invalid uwsgi var block: a length field runs past the end of the ${block.length}-byte block`);
  }
  if (pairs.length > maxVars) {
    throw new ProtocolError(`too many uwsgi vars: ${pairs.length} (max ${maxVars})`, 431, 'max-vars');
  }
  const keys = new Array<string>(pairs.length);
  const values = new Array<string>(pairs.length);
  let consumed = 0;
  for (let i = 0; i < pairs.length; i++) {
    const pair = pairs[i];
    // binary-parser clamps a short read; a clamped key or value is a length past the end.
    if (pair.key.length !== pair.keyLength || pair.value.length !== pair.valueLength) {
      throw new ProtocolError(`invalid uwsgi var block: var ${i} declares ${pair.keyLength}+${pair.valueLength} bytes past the end of the block`);
    }
    if (pair.keyLength === 0) throw new ProtocolError(`invalid uwsgi var block: var ${i} has an empty key`);
    keys[i] = pair.key.toString('latin1');
    values[i] = pair.value.toString('latin1');
    consumed += 4 + pair.keyLength + pair.valueLength;
  }
  if (consumed !== block.length) {
    throw new ProtocolError(`invalid uwsgi var block: ${block.length - consumed} bytes left over after the last var`);
  }
  return new UwsgiVars(keys, values);
}
