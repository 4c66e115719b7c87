import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';

export type Address = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number; family: 4 | 6 };

/**
 * uWSGI's socket address forms: `host:port`, `:port` (every interface), `[v6]:port`, or a unix
 * path (anything else, e.g. `/run/app.sock` or `app.sock`).
 */
export async function parseAddress(spec: string): Promise<Address> {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^/:]*)):(\d{1,5})$/.exec(spec);
  if (!m) return { kind: 'unix', path: spec };
  const port = Number(m[3]);
  if (port > 65535) throw new Error(`invalid port in ${spec}`);
  const name = m[1] ?? m[2];
  if (name === '' || name === '*') return { kind: 'tcp', host: '0.0.0.0', port, family: 4 };
  const family = isIP(name);
  if (family) return { kind: 'tcp', host: name, port, family: family as 4 | 6 };
  const resolved = await lookup(name);
  return { kind: 'tcp', host: resolved.address, port, family: resolved.family as 4 | 6 };
}

export function formatAddress(address: Address): string {
  if (address.kind === 'unix') return address.path;
  return address.family === 6 ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}
