// Building uwsgi packets by hand, for malformed-input tests and for talking to a backend without
// a front end. Well-formed request bytes in tests come from fixtures/ (captured from nginx).

/** `uint16le key_len | key | uint16le val_len | value` for each pair; bytes are latin1. */
export function encodeVars(pairs: readonly (readonly [string, string])[]): Buffer {
  const parts: Buffer[] = [];
  for (const [key, value] of pairs) {
    const k = Buffer.from(key, 'latin1');
    const v = Buffer.from(value, 'latin1');
    const lengths = Buffer.alloc(2);
    lengths.writeUInt16LE(k.length);
    const valueLength = Buffer.alloc(2);
    valueLength.writeUInt16LE(v.length);
    parts.push(lengths, k, valueLength, v);
  }
  return Buffer.concat(parts);
}

/** The 4-byte header (modifier1, LE datasize, modifier2) + the var block + the body. */
export function uwsgiPacket(pairs: readonly (readonly [string, string])[], body: Buffer = Buffer.alloc(0), modifier1 = 0, modifier2 = 0): Buffer {
  const block = encodeVars(pairs);
  const header = Buffer.from([modifier1, 0, 0, modifier2]);
  header.writeUInt16LE(block.length, 1);
  return Buffer.concat([header, block, body]);
}
