import net from 'node:net';
import { PONG } from './protocol/constants.js';
import { parseAddress } from './server/addresses.js';

/** modifier1 100 (ping), datasize 0, modifier2 0: what `uwsgi --ping` sends. */
const PING = Buffer.from([0x64, 0x00, 0x00, 0x00]);

/**
 * `nuwsgi health ADDR`: a health check that speaks uwsgi, for container HEALTHCHECKs and probes
 * without curl: sends a ping packet and expects the pong (64 00 00 01). Exit 0 when answered.
 */
export async function health(spec: string, timeoutMs: number): Promise<{ ok: boolean; message: string }> {
  const address = await parseAddress(spec);
  return new Promise((resolve) => {
    const socket = address.kind === 'unix' ? net.connect({ path: address.path }) : net.connect({ host: address.host, port: address.port });
    let got = Buffer.alloc(0);
    const done = (ok: boolean, message: string) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ ok, message });
    };
    const timer = setTimeout(() => done(false, `no answer from ${spec} within ${timeoutMs} ms`), timeoutMs);
    socket.on('connect', () => socket.write(PING));
    socket.on('data', (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      if (got.length >= 4) {
        done(got.subarray(0, 4).equals(PONG), got.subarray(0, 4).equals(PONG) ? `${spec}: pong` : `${spec}: unexpected answer ${got.subarray(0, 4).toString('hex')}`);
      }
    });
    socket.on('end', () => done(false, `${spec} closed the connection without answering the ping`));
    socket.on('error', (error: NodeJS.ErrnoException) => done(false, `${spec}: ${error.code ?? error.message}`));
  });
}
