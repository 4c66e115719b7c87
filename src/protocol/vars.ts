import { ProtocolError } from './errors.js';

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
 *
 * A hand loop over one latin1 decode of the block rather than binary-parser: 0.6 µs for an nginx
 * request's 15 vars against binary-parser's 4.6 µs, which was a quarter of the JavaScript a request
 * cost on the native path. binary-parser stays the oracle: test/fuzz-reader.test.ts checks that
 * both decode, and refuse, every block alike (test/helpers/vars-oracle.ts).
 * The order of the checks is binary-parser's: a length field past the end fails the whole block
 * first; then the pair count; then, pair by pair, a key or value past the end or an empty key.
 */
export function decodeVars(block: Buffer, maxVars: number): UwsgiVars {
  const keys: string[] = [];
  const values: string[] = [];
  const end = block.length;
  // One latin1 decode of the whole block, then substrings: a byte is a char, so offsets carry
  // over, and 30 native toString calls per request become one.
  const text = block.toString('latin1');
  let count = 0;
  let pairError: string | undefined;
  let pos = 0;
  while (pos < end) {
    if (pos + 2 > end) throw lengthFieldPastEnd(end);
    const keyLength = block[pos] | (block[pos + 1] << 8);
    const keyStart = pos + 2;
    pos = keyStart + keyLength;
    if (pos + 2 > end) throw lengthFieldPastEnd(end);
    const valueLength = block[pos] | (block[pos + 1] << 8);
    const valueStart = pos + 2;
    pos = valueStart + valueLength;
    if (pairError === undefined) {
      if (pos > end) pairError = `var ${count} declares ${keyLength}+${valueLength} bytes past the end of the block`;
      else if (keyLength === 0) pairError = `var ${count} has an empty key`;
    }
    // Past max-vars only counted, for the message: decoding them would be work for a refusal.
    if (count < maxVars) {
      keys.push(text.slice(keyStart, keyStart + keyLength));
      values.push(text.slice(valueStart, Math.min(pos, end)));
    }
    count++;
  }
  if (count > maxVars) throw new ProtocolError(`too many uwsgi vars: ${count} (max ${maxVars})`, 431, 'max-vars');
  if (pairError !== undefined) throw new ProtocolError(`invalid uwsgi var block: ${pairError}`);
  return new UwsgiVars(keys, values);
}

function lengthFieldPastEnd(size: number): ProtocolError {
  return new ProtocolError(`invalid uwsgi var block: a length field runs past the end of the ${size}-byte block`);
}
