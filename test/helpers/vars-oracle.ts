// The var-block decoder as binary-parser describes the format: the reference the hand-written
// decoder in src/protocol/vars.ts is checked against (test/fuzz-reader.test.ts). It returns the
// pairs, or the message the production decoder must refuse the block with.
import { Parser } from 'binary-parser';

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

export type OracleResult = { keys: string[]; values: string[] } | { error: string };

export function oracleDecode(block: Buffer, maxVars: number): OracleResult {
  let pairs: RawPair[];
  try {
    pairs = (blockParser.parse(block) as { pairs: RawPair[] }).pairs;
  } catch {
    // DataView throws when a length field itself runs past the end of the block.
    return { error: `invalid uwsgi var block: a length field runs past the end of the ${block.length}-byte block` };
  }
  if (pairs.length > maxVars) return { error: `too many uwsgi vars: ${pairs.length} (max ${maxVars})` };
  const keys: string[] = [];
  const values: string[] = [];
  let consumed = 0;
  for (let i = 0; i < pairs.length; i++) {
    const pair = pairs[i];
    // binary-parser clamps a short read; a clamped key or value is a length past the end.
    if (pair.key.length !== pair.keyLength || pair.value.length !== pair.valueLength) {
      return { error: `invalid uwsgi var block: var ${i} declares ${pair.keyLength}+${pair.valueLength} bytes past the end of the block` };
    }
    if (pair.keyLength === 0) return { error: `invalid uwsgi var block: var ${i} has an empty key` };
    keys.push(pair.key.toString('latin1'));
    values.push(pair.value.toString('latin1'));
    consumed += 4 + pair.keyLength + pair.valueLength;
  }
  if (consumed !== block.length) return { error: `invalid uwsgi var block: ${block.length - consumed} bytes left over after the last var` };
  return { keys, values };
}
